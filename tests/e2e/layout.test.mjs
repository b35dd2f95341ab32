// How the page reads on a wide screen and a phone, in light and dark, and how the keyboard finds
// its way: real server, real page, headless Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeydesk, launchBrowser, watchConsole, seriousViolations, row } from './harness.mjs';

let keydesk;
let browser;
let pages;

before(async () => {
  keydesk = await startKeydesk();
  browser = await launchBrowser();
  const someone = keydesk.sql("SELECT id FROM users WHERE email = 'hannah.muller@example.com'");
  // A recovery link from the demo's outbox: the person's own page, as they open it.
  const link = keydesk.sql("SELECT link FROM outbox WHERE link IS NOT NULL ORDER BY id DESC LIMIT 1");
  pages = {
    users: '/',
    person: `/users/${someone}`,
    awaiting: '/?state=RECOVERY_ACCEPTED',
    audit: '/audit',
    outbox: '/outbox',
    'recovery link': new URL(link).pathname + new URL(link).hash,
  };
});

after(async () => {
  await browser?.close();
  keydesk?.stop();
});

async function open(path, options = {}) {
  const page = await browser.newPage(options);
  const problems = watchConsole(page);
  await page.goto(keydesk.url + path);
  await page.locator('main h1').first().waitFor();
  // The app's own rendering, not the server's first rows (which come before any script).
  await page.waitForFunction(() => !document.getElementById('boot'));
  return { page, problems };
}

test('at 1440×900 at least 15 people are fully in view, each with role, state and a short date', async () => {
  const { page, problems } = await open('/', { viewport: { width: 1440, height: 900 } });
  await page.locator('tbody tr td.actions button').first().waitFor();
  const inView = await page.evaluate(() => [...document.querySelectorAll('tbody tr')]
    .filter((row) => { const box = row.getBoundingClientRect(); return box.top >= 0 && box.bottom <= innerHeight; })
    .length);
  assert.ok(inView >= 15, `${inView} rows in view`);
  const amara = page.locator('tbody tr', { hasText: 'amara.okafor@example.com' });
  assert.equal(await amara.locator('td.role').innerText(), 'Administrator');
  // The date is local and short, the exact time on hover, and it never wraps.
  const created = amara.locator('td.date time');
  assert.match(await created.innerText(), /^[A-Z][a-z]{2} \d{1,2}, \d{4}$/);
  assert.match(await created.getAttribute('title'), /\d{1,2}:\d{2}:\d{2}/);
  assert.equal((await created.boundingBox()).height < 24, true, 'one line');
  assert.deepEqual(problems, []);
  await page.close();
});

test('at 1440 px the audit filters fit one row', async () => {
  const { page } = await open('/audit', { viewport: { width: 1440, height: 900 } });
  const tops = await page.evaluate(() => [...document.querySelectorAll('form.filters > *')]
    .map((element) => Math.round(element.getBoundingClientRect().bottom)));
  assert.ok(Math.max(...tops) - Math.min(...tops) < 30, `bottoms ${tops}`);
  await page.close();
});

test('at 390×844 no page is wider than the screen, and the list is cards with their actions', async () => {
  // Something in the audit and in a person's history, to lay out.
  const { page: setup } = await open('/?q=hannah');
  // Whatever her row offers first, confirmed.
  await row(setup, 'Hannah Müller').locator('td.actions button').first().click();
  const dialog = setup.getByRole('dialog');
  await dialog.locator('.confirm-buttons button').last().click();
  await dialog.waitFor({ state: 'hidden' });
  await setup.close();
  for (const [name, path] of Object.entries(pages)) {
    const { page, problems } = await open(path, { viewport: { width: 390, height: 844 } });
    await page.waitForTimeout(300);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `${name} is ${width} px wide`);
    // Nor does anything inside scroll sideways: the audit's records are cards too.
    if (name === 'audit' || name === 'person') {
      await page.locator('table.audit tbody tr').first().waitFor();
      const overflow = await page.locator('.table-scroll').evaluateAll(
        (boxes) => boxes.map((box) => box.scrollWidth - box.clientWidth));
      assert.ok(overflow.every((extra) => extra <= 0), `${name}: ${overflow}`);
    }
    assert.deepEqual(problems, [], name);
    if (name === 'users') {
      const card = page.locator('tbody tr', { hasText: 'aarav.sharma@example.com' });
      const action = card.getByRole('button', { name: 'Begin recovery Aarav Sharma' });
      const box = await action.boundingBox();
      assert.ok(box.x >= 0 && box.x + box.width <= 390, 'the action is on screen');
      // The banner is one line; the navigation is behind a menu button.
      assert.ok((await page.locator('.dev-banner').boundingBox()).height < 40);
      const audit = page.getByRole('link', { name: 'Audit' });
      assert.equal(await audit.isVisible(), false);
      await page.getByText('Menu').click();
      await audit.waitFor();
    }
    await page.close();
  }
});

test('the navigation marks the current page, and focus moves to the new page heading', async () => {
  const { page } = await open('/');
  const current = () => page.locator('nav a[aria-current="page"]').innerText();
  assert.equal(await current(), 'Users');
  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByRole('heading', { level: 1, name: /Audit/ }).waitFor();
  await page.waitForFunction(() => document.activeElement?.tagName === 'H1');
  assert.equal(await current(), 'Audit');
  await page.getByRole('link', { name: /Awaiting completion/ }).click();
  await page.waitForURL(/state=RECOVERY_ACCEPTED/);
  assert.match(await current(), /Awaiting completion/);
  await page.close();
});

test('axe finds no serious or critical violation on any page, light or dark', async () => {
  for (const colorScheme of ['light', 'dark']) {
    for (const [name, path] of Object.entries(pages)) {
      const { page } = await open(path, { colorScheme });
      await page.waitForTimeout(300);
      assert.deepEqual(await seriousViolations(page), [], `${name}, ${colorScheme}`);
      await page.close();
    }
  }
});
