// The users page, end to end: real server, real SQLite file, real page, headless Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeydesk, launchBrowser, watchConsole, seriousViolations, row, rowAction } from './harness.mjs';

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

async function openPage(path = '/') {
  const page = await browser.newPage();
  const problems = watchConsole(page);
  await page.goto(keydesk.url + path);
  return { page, problems };
}

const stateOf = (email) => keydesk.sql(`SELECT state FROM users WHERE email = '${email}'`);

test('reactivates a suspended user through the dialog, in the page and the database', async () => {
  assert.equal(stateOf('chloe.dubois@example.com'), 'SUSPENDED');
  const { page, problems } = await openPage('/?state=SUSPENDED');
  const chloe = row(page, 'Chloé Dubois');
  await chloe.getByRole('button', { name: 'Reactivate Chloé Dubois' }).click();

  const dialog = page.getByRole('dialog', { name: 'Reactivate Chloé Dubois?' });
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /chloe\.dubois@example\.com/);
  // A real modal: opened with showModal(), focus inside it, on the action for a non-destructive change.
  assert.equal(await page.evaluate(() => document.querySelector('dialog').matches(':modal')), true);
  assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), 'Reactivate');

  await dialog.getByRole('button', { name: 'Reactivate' }).click();
  await dialog.waitFor({ state: 'hidden' });
  // Active now, she leaves the view of suspended people at once.
  await chloe.waitFor({ state: 'detached' });
  assert.match(await page.getByRole('status').first().innerText(), /Reactivated Chloé Dubois/);
  assert.equal(stateOf('chloe.dubois@example.com'), 'ACTIVE');
  assert.deepEqual(problems, []);
  await page.close();
});

test('suspend starts on Cancel, Escape changes nothing, confirming suspends', async () => {
  const { page, problems } = await openPage('/?q=oliver');
  const oliver = row(page, 'Oliver Smith');
  await (await rowAction(page, 'Oliver Smith', 'Suspend')).click();
  const dialog = page.getByRole('dialog', { name: 'Suspend Oliver Smith?' });
  await dialog.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), 'Cancel');

  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(stateOf('oliver.smith@example.com'), 'ACTIVE');

  await (await rowAction(page, 'Oliver Smith', 'Suspend')).click();
  await dialog.getByRole('button', { name: 'Suspend' }).click();
  await oliver.locator('.badge', { hasText: 'Suspended' }).waitFor();
  assert.equal(stateOf('oliver.smith@example.com'), 'SUSPENDED');
  assert.deepEqual(problems, []);
  await page.close();
});

test('suspending one of two owners warns first, and the last owner is offered no Suspend', async () => {
  const { page, problems } = await openPage('/?q=example.com&state=ACTIVE');
  const wendy = 'Wendy Appleseed';
  const nikolai = 'Nikolai Ødegård';
  const nikolaisSuspend = row(page, nikolai).locator('td.actions button', { hasText: 'Suspend' });
  await nikolaisSuspend.waitFor({ state: 'attached' });
  await (await rowAction(page, wendy, 'Suspend')).click();
  const dialog = page.getByRole('dialog');
  assert.match(await dialog.getByRole('note').innerText(), /leaves one active owner/);
  await dialog.getByRole('button', { name: 'Suspend' }).click();
  await dialog.waitFor({ state: 'hidden' });
  // Nikolai is now the only active owner: his row no longer offers what the server would refuse.
  await nikolaisSuspend.waitFor({ state: 'detached' });
  assert.equal(await row(page, nikolai).getByRole('button', { name: `Begin recovery ${nikolai}` }).count(), 1);
  // Nothing else to offer him, so no menu either.
  assert.equal(await row(page, nikolai).getByRole('button', { name: /More actions/ }).count(), 0);
  assert.equal(stateOf('nikolai.odegard@example.com'), 'ACTIVE');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a notice stays until it is dismissed', async () => {
  const { page } = await openPage('/?q=lefevre');
  await (await rowAction(page, 'Zoë Lefèvre', 'Suspend')).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Suspend' }).click();
  const notice = page.locator('.notice');
  await notice.getByText(/Suspended Zoë Lefèvre/).waitFor();
  await page.waitForTimeout(9000); // longer than the 8 s a notice used to last
  assert.match(await notice.innerText(), /Suspended Zoë Lefèvre/);
  await notice.getByRole('button', { name: 'Dismiss' }).click();
  assert.equal((await notice.innerText()).trim(), '');
  await page.close();
});

test('the search box has focus when the list opens', async () => {
  const { page } = await openPage('/');
  // Once the app has replaced the server's first rows (which come before any script).
  await page.waitForFunction(() => document.activeElement?.getAttribute('type') === 'search', null,
    { timeout: 10_000 });
  assert.equal(await page.locator('#boot').count(), 0);
  await page.close();
});

test('search, filter and sort live in the URL, and Back restores the view', async () => {
  const { page, problems } = await openPage('/');
  await row(page, 'Aarav Sharma').waitFor();
  await page.getByRole('searchbox', { name: 'Search users' }).fill('lefevre');
  await page.waitForURL(/q=lefevre/);
  await row(page, 'Zoë Lefèvre').waitFor();
  assert.equal(await page.locator('tbody tr').count(), 1);

  await page.getByRole('button', { name: 'Created' }).click();
  await page.waitForURL(/order_by=create_time/);
  assert.equal(await page.locator('th[aria-sort="ascending"]').innerText(), 'Created▲');
  // Only sortable columns carry a sort mark.
  assert.equal(await page.locator('th', { hasText: 'Role' }).innerText(), 'Role');

  await page.goBack();
  await page.waitForURL((url) => !url.search.includes('order_by'));
  await page.goBack();
  await page.waitForURL((url) => !url.search.includes('q='));
  await row(page, 'Aarav Sharma').waitFor();
  assert.equal(await page.getByRole('searchbox').inputValue(), '');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a deep link opens the filtered view directly', async () => {
  const { page } = await openPage('/users?state=RECOVERY_ACCEPTED');
  await row(page, 'Fatima Zahra').waitFor();
  // Each says how long their recovery has waited for an admin (in the app's own rows: the
  // server's first rows, before any script, say the day in UTC).
  await page.waitForFunction(() => !document.getElementById('boot'));
  assert.match(await row(page, 'Fatima Zahra').locator('.since').innerText(), /^waiting since [A-Z][a-z]{2} \d{1,2}, \d{4}$/);
  const states = await page.locator('tbody .badge').allInnerTexts();
  assert.ok(states.length >= 2);
  assert.ok(states.every((s) => s === 'Recovery accepted'), states.join());
  assert.equal(await page.getByRole('combobox', { name: 'State' }).inputValue(), 'RECOVERY_ACCEPTED');
  await page.close();
});

test('a display name made of HTML shows as text', async () => {
  const { page, problems } = await openPage('/?q=html.injection');
  const cell = page.locator('td.person a').first();
  await cell.waitFor();
  assert.equal(await cell.innerText(), "<img src=x onerror=alert('pwned')>");
  assert.equal(await page.locator('tbody img').count(), 0);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the server refusing a view shows its message, not a blank page', async () => {
  const { page } = await openPage('/?order_by=email&state=NOT_A_STATE');
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /NOT_A_STATE/);
  await page.close();
});

test('an empty result says so and offers to clear the search', async () => {
  const { page } = await openPage('/?q=nobody-is-called-this');
  // Only a search narrows it: the page says that, not "search and filter".
  await page.getByText('Nobody matches this search.').waitFor();
  await page.getByRole('button', { name: 'Clear search' }).click();
  await row(page, 'Aarav Sharma').waitFor();
  await page.close();
});

test('load more walks the server pages without repeats', async () => {
  const { page } = await openPage('/');
  await page.locator('tbody tr').nth(49).waitFor();
  await page.getByRole('button', { name: 'Load more users' }).click();
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length > 50);
  const ids = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.userId));
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(ids.length, Number(keydesk.sql('SELECT COUNT(*) FROM users')));
  await page.close();
});

test('no serious or critical accessibility violations on the page and in the dialog', async () => {
  const { page } = await openPage('/');
  await row(page, 'Aarav Sharma').waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  await (await rowAction(page, 'Aarav Sharma', 'Suspend')).click();
  await page.getByRole('dialog').waitFor();
  assert.deepEqual(await seriousViolations(page, 'dialog'), []);
  await page.close();
});

test('the page runs under a strict Content-Security-Policy', async () => {
  const page = await browser.newPage();
  const problems = watchConsole(page);
  const response = await page.goto(keydesk.url + '/');
  const csp = response.headers()['content-security-policy'];
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval' 'sha256-/);
  assert.doesNotMatch(csp, /unsafe-inline|\*/);
  assert.equal(response.headers()['x-content-type-options'], 'nosniff');
  // The page still starts: Trunk's inline loader is allowed by its hash, the wasm by policy
  // (the app's own table replaces the rows the server wrote into the page).
  await page.locator('#boot').waitFor({ state: 'detached' });
  await row(page, 'Aarav Sharma').waitFor();
  assert.deepEqual(problems, []);
  await page.close();
});

test('the first rows come with the page, before any script, and give way to the app', async () => {
  // Without JavaScript: the rows the server wrote, as text.
  const still = await browser.newContext({ javaScriptEnabled: false });
  const bare = await still.newPage();
  await bare.goto(keydesk.url + '/?q=html.injection');
  assert.equal(await bare.locator('#boot td.person a').innerText(), "<img src=x onerror=alert('pwned')>");
  assert.equal(await bare.locator('tbody img').count(), 0);
  await bare.goto(keydesk.url + '/');
  const ids = (rows) => rows.map((r) => r.dataset.userId);
  const written = await bare.locator('#boot tbody tr').evaluateAll(ids);
  assert.equal(written.length, 50);
  assert.equal(await row(bare, 'Aarav Sharma').count(), 1);
  await still.close();

  // With it: the app takes over, and there is one table, the app's, with the same rows.
  const { page, problems } = await openPage('/');
  await page.locator('#boot').waitFor({ state: 'detached' });
  await page.getByRole('searchbox', { name: 'Search users' }).waitFor();
  assert.equal(await page.locator('table.users').count(), 1);
  assert.deepEqual(await page.locator('tbody tr').evaluateAll(ids), written);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a change refused by a rule says why and leaves only Cancel to press', async () => {
  const { page } = await openPage('/?q=rafael');
  const suspend = await rowAction(page, 'Rafael Costa', 'Suspend');
  // Someone else moved him on meanwhile: a state that cannot be suspended.
  keydesk.sql("UPDATE users SET state = 'TRANSFER_STARTED' WHERE email = 'rafael.costa@example.com'");
  await suspend.click();
  const dialog = page.getByRole('dialog', { name: 'Suspend Rafael Costa?' });
  await dialog.getByRole('button', { name: 'Suspend' }).click();
  const alert = dialog.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /cannot be suspended: their state is Transfer started/);
  assert.equal(await dialog.getByRole('button', { name: 'Suspend' }).isDisabled(), true);
  assert.equal(await dialog.getByRole('button', { name: 'Cancel' }).isDisabled(), false);
  assert.equal(stateOf('rafael.costa@example.com'), 'TRANSFER_STARTED');
  await page.close();
});

test("a person's page offers their actions through the same dialog and leads back to the exact view", async () => {
  const { page, problems } = await openPage('/?q=noah&state=ACTIVE&order_by=email+desc');
  await row(page, 'Noah Williams').getByRole('link', { name: 'Noah Williams' }).click();
  await page.getByRole('heading', { level: 1, name: 'Noah Williams' }).waitFor();
  // Facts in words and local times, with copy buttons.
  await page.getByRole('button', { name: 'Copy email' }).waitFor();
  await page.getByRole('button', { name: 'Copy ID' }).waitFor();
  assert.doesNotMatch(await page.locator('dl.facts').innerText(), /\d{4}-\d{2}-\d{2}T/);
  // Every action the state allows, through the list's dialog.
  await page.getByRole('button', { name: 'Suspend', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('heading', { name: 'Suspend Noah Williams?' }).waitFor();
  await dialog.getByRole('button', { name: 'Suspend' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await page.locator('.notice').getByText(/Suspended Noah Williams/).waitFor();
  await page.locator('dl.facts .badge', { hasText: 'Suspended' }).waitFor();
  await page.getByRole('button', { name: 'Reactivate', exact: true }).waitFor();
  assert.equal(stateOf('noah.williams@example.com'), 'SUSPENDED');
  // Back to the list exactly as it was left: search, filter and sort.
  await page.getByRole('link', { name: '← Back to the list' }).click();
  await page.waitForURL((url) => url.pathname === '/' && url.searchParams.get('q') === 'noah'
    && url.searchParams.get('state') === 'ACTIVE' && url.searchParams.get('order_by') === 'email desc');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the audit log reads as sentences with names and local times, and a record opens to its raw values', async () => {
  const { page, problems } = await openPage('/audit?action=suspend&outcome=succeeded');
  const first = page.locator('table.audit tbody tr').first();
  await first.waitFor();
  // Suspensions earlier in this file, newest first, in words.
  assert.match(await first.locator('td.what').innerText(), /^Amara Okafor suspended [^<]+ <[^>]+@example\.com>/);
  assert.match(await first.locator('td.date').innerText(), /^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}/);
  // The action filter is a list of actions in words.
  const action = page.getByLabel('Action');
  assert.equal(await action.inputValue(), 'suspend');
  assert.ok((await action.locator('option').allInnerTexts()).includes('Begin recovery'));
  // The record as the chain keeps it, for whoever investigates.
  await first.getByText(/^Record \d+$/).click();
  const raw = await first.locator('dl.raw').innerText();
  assert.match(raw, /suspend/);
  assert.match(raw, /amara\.okafor@example\.com/);
  assert.match(raw, /Request/);

  // The actor and target filters take a name or part of an email, as an admin remembers them.
  await action.selectOption('');
  await page.getByLabel('Actor').fill('okafor');
  await page.getByLabel('Target').fill('Lefèvre');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForFunction(() => new URLSearchParams(location.search).get('target') === 'Lefèvre');
  const found = page.locator('table.audit tbody tr td.what');
  await found.first().getByText(/^Amara Okafor suspended Zoë Lefèvre/).waitFor();
  for (const sentence of await found.allInnerTexts()) {
    assert.match(sentence, /^Amara Okafor .*Zoë Lefèvre <zoe\.lefevre@example\.com>/);
  }
  // The export takes the same filters, and gives the same records.
  const exportLink = page.getByRole('link', { name: 'Export as JSON Lines' });
  assert.equal(await exportLink.getAttribute('href'), '/api/audit/export?actor=okafor&target=Lef%C3%A8vre&outcome=succeeded');
  const exported = await page.evaluate(async (href) => (await fetch(href)).text(), await exportLink.getAttribute('href'));
  assert.equal(exported.trim().split('\n').length, await found.count());

  // A range that ends before it begins matches nothing, and the page says why.
  await page.goto(keydesk.url + '/audit?since=2030-01-01T00:00&until=2020-01-01T00:00');
  await page.getByText('Nothing can match: “Until” is not after “From”.').waitFor();
  assert.deepEqual(problems, []);
  await page.close();
});

test('a reactivation set for a day waits in Scheduled, which can make it at once', async () => {
  const { page, problems } = await openPage('/?state=SUSPENDED&q=dmitri');
  const person = 'Дмитрий Иванов';
  await (await rowAction(page, person, 'Reactivate')).click();
  const dialog = page.getByRole('dialog', { name: `Reactivate ${person}?` });
  await dialog.getByLabel('Reason').fill('back from leave');
  const day = new Date(Date.now() + 30 * 86400e3).toISOString().slice(0, 10);
  await dialog.getByLabel('On (optional)').fill(day);
  await dialog.getByRole('button', { name: 'Reactivate' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.match(await page.getByRole('status').first().innerText(), new RegExp(`${person} will be reactivated on .*${day.slice(0, 4)}`));
  assert.equal(stateOf('dmitri.ivanov@example.com'), 'SUSPENDED', 'not yet');

  // The Scheduled view (the record pages' own program) lists it, and "Do it now" makes it.
  await page.getByRole('link', { name: 'Scheduled' }).click();
  await page.getByRole('heading', { level: 1, name: 'Scheduled changes' }).waitFor();
  const pending = page.locator('ul.scheduled-list li', { hasText: person });
  assert.match(await pending.innerText(), /Reactivate .*as amara\.okafor@example\.com asked: back from leave/);
  await pending.getByRole('button', { name: 'Do it now' }).click();
  await page.getByText(`Done now for ${person}`).waitFor();
  assert.equal(stateOf('dmitri.ivanov@example.com'), 'ACTIVE');
  await page.getByText('Nothing is scheduled.').waitFor();
  assert.deepEqual(problems, []);
  await page.close();
});
