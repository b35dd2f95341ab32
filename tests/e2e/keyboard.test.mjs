// The users list by keyboard and by selection: the search box first, `/` to return to it, a
// row's action three Tabs away, the row's menu, and a selection bar that names everyone
// selected. Real server, real page, headless Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeydesk, launchBrowser, watchConsole, row } from './harness.mjs';

let keydesk;
let browser;

before(async () => {
  keydesk = await startKeydesk();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  keydesk?.stop();
});

/** The list at `path`, once the app has it and its search box has focus. */
async function openList(path) {
  const page = await browser.newPage();
  const problems = watchConsole(page);
  await page.goto(keydesk.url + path);
  await page.waitForFunction(() => document.activeElement?.getAttribute('type') === 'search', null,
    { timeout: 10_000 });
  return { page, problems };
}

/** What a screen reader would call the focused element. */
const focused = (page) => page.evaluate(() => {
  const element = document.activeElement;
  return element.getAttribute('aria-label') ?? element.textContent.trim();
});

const stateOf = (email) => keydesk.sql(`SELECT state FROM users WHERE email = '${email}'`);

test("a row's primary action is three Tabs from the search box, and its menu works by keyboard", async () => {
  const { page, problems } = await openList('/?q=oliver');
  const oliver = row(page, 'Oliver Smith');
  await oliver.getByRole('button', { name: 'Begin recovery Oliver Smith' }).waitFor();
  await page.getByRole('searchbox', { name: 'Search users' }).focus();
  for (const expected of ['Select Oliver Smith', 'Oliver Smith', 'Begin recovery Oliver Smith']) {
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), expected);
  }

  // The rest are behind "⋯": Enter opens it, its entries are next, Escape closes it and
  // returns to the button.
  await page.keyboard.press('Tab');
  assert.equal(await focused(page), 'More actions for Oliver Smith');
  const menu = oliver.locator('.menu');
  assert.equal(await menu.isVisible(), false);
  await page.keyboard.press('Enter');
  await menu.waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await focused(page), 'Suspend Oliver Smith');
  await page.keyboard.press('Escape');
  await menu.waitFor({ state: 'hidden' });
  assert.equal(await focused(page), 'More actions for Oliver Smith');

  // Choosing an entry opens its dialog, and the menu closes.
  await page.keyboard.press('Enter');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Suspend Oliver Smith?' });
  await dialog.waitFor();
  assert.equal(await menu.isVisible(), false);
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(stateOf('oliver.smith@example.com'), 'ACTIVE');
  // The menu entry that opened it is hidden now: focus goes back to the row's actions, not to
  // the top of the page.
  await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Begin recovery Oliver Smith');
  assert.deepEqual(problems, []);
  await page.close();
});

test('`/` returns to the search box from anywhere on the list, but types a slash in a field', async () => {
  const { page, problems } = await openList('/?q=oliver');
  const search = page.getByRole('searchbox', { name: 'Search users' });
  await row(page, 'Oliver Smith').getByRole('link', { name: 'Oliver Smith' }).focus();
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('type')), 'search');
  // From a row's checkbox too: it takes no text.
  await row(page, 'Oliver Smith').getByRole('checkbox').focus();
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('type')), 'search');
  // The search's text is selected: typing replaces it, and a slash there is a slash.
  await page.keyboard.type('a/b');
  assert.equal(await search.inputValue(), 'a/b');
  assert.deepEqual(problems, []);
  await page.close();
});

test('sorting by keyboard: the Sort list beside the search box, kept in the URL', async () => {
  const { page, problems } = await openList('/?q=example.com');
  await page.getByRole('combobox', { name: 'Sort' }).selectOption({ label: 'Newest first' });
  const orderBy = () => new URLSearchParams(location.search).get('order_by');
  await page.waitForFunction(`(${orderBy})() === 'create_time desc'`);
  await page.locator('th[aria-sort="descending"]', { hasText: 'Created' }).waitFor();
  const newest = keydesk.sql(
    "SELECT display_name FROM users WHERE email LIKE '%example.com%' ORDER BY create_time DESC LIMIT 1");
  await page.locator('tbody tr').first().locator('td.person a', { hasText: newest }).waitFor();
  // A column heading sorts too, and the list follows it.
  await page.getByRole('button', { name: /^Name/ }).click();
  await page.waitForFunction(`(${orderBy})() === null`);
  assert.equal(await page.getByRole('combobox', { name: 'Sort' }).inputValue(), 'display_name');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the selection bar names everyone selected, even those the search hides, and each can be taken out', async () => {
  const { page, problems } = await openList('/?q=oliver');
  const search = page.getByRole('searchbox', { name: 'Search users' });
  // The bar comes over the list's foot: the rows do not move under the pointer.
  const before = await row(page, 'Oliver Smith').boundingBox();
  await row(page, 'Oliver Smith').getByRole('checkbox', { name: 'Select Oliver Smith' }).check();
  assert.equal((await row(page, 'Oliver Smith').boundingBox()).y, before.y);
  await search.fill('wanjiru');
  await row(page, 'Grace Wanjiru').getByRole('checkbox', { name: 'Select Grace Wanjiru' }).check();
  const bar = page.getByRole('region', { name: 'Selected people' });
  await bar.getByText('2 people selected').waitFor();
  // Oliver is not in the list any more, but the bar still says he is selected.
  assert.equal(await row(page, 'Oliver Smith').count(), 0);
  assert.deepEqual(await bar.locator('.chips li').allInnerTexts(), ['Oliver Smith×', 'Grace Wanjiru×']);

  await bar.getByRole('button', { name: 'Unselect Oliver Smith' }).click();
  await bar.getByText('1 person selected').waitFor();
  assert.deepEqual(await bar.locator('.chips li').allInnerTexts(), ['Grace Wanjiru×']);

  // "Select all shown" is the keyboard's select-all: everyone the list shows joins Grace.
  await search.fill('smith');
  await row(page, 'Oliver Smith').waitFor();
  const shown = await page.locator('tbody tr td.person a').allInnerTexts();
  await bar.getByRole('button', { name: 'Select all shown' }).click();
  await bar.getByText(`${shown.length + 1} people selected`).waitFor();
  for (const name of shown) await row(page, name).getByRole('checkbox', { checked: true }).waitFor();

  await bar.getByRole('button', { name: 'Clear selection' }).click();
  await bar.waitFor({ state: 'detached' });
  assert.deepEqual(problems, []);
  await page.close();
});
