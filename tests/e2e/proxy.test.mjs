// Behind a real reverse proxy, set up as the README's deployment section says: Debian's nginx in
// front of the release Keydesk in proxy mode, asking a tiny SSO stub (`auth_request`) who is signed
// in, and headless Chromium going through nginx. nginx and Keydesk both run on 127.0.0.1, so
// Keydesk tells nginx apart by its shared secret.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ACCOUNT, startKeydesk, launchBrowser, row, rowAction } from './harness.mjs';
import { PEOPLE, startSso, fromReadme, startNginx, openAs as openIn } from './sso_proxy.mjs';

const SECRET = randomBytes(24).toString('hex');

let keydesk;
let sso;
let nginx;
let browser;

/** The README's nginx server, on this machine's ports. */
const readmeServer = (ssoPort, keydeskPort) => (port) =>
  fromReadme('nginx', [
    ['listen 443 ssl;', `listen 127.0.0.1:${port};`],
    ['127.0.0.1:8080', `127.0.0.1:${keydeskPort}`],
    ['127.0.0.1:4180', `127.0.0.1:${ssoPort}`],
    ['the contents of /etc/keydesk/proxy-secret', SECRET],
  ]);

before(async () => {
  keydesk = await startKeydesk({
    settings: fromReadme('toml', [['/etc/keydesk/proxy-secret', '{dir}/proxy-secret']]),
    files: { 'proxy-secret': `${SECRET}\n` },
  });
  sso = await startSso();
  nginx = await startNginx(readmeServer(sso.port, new URL(keydesk.url).port));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await nginx?.stop();
  sso?.stop();
  keydesk?.stop();
});

/** A page through nginx in a browser of its own, signed in to the SSO as `who` (or not at all). */
const openAs = (who, path) => openIn(browser, nginx.url, who, path);

const stateOf = (email) => keydesk.sql(`SELECT state FROM users WHERE email = '${email}'`);
const audit = (query) => keydesk.sql(query, 'keydesk.db');

test('through nginx, an admin suspends someone, and the Audit view names them', async () => {
  const { page, problems, response, close } = await openAs('admin', '/?q=oliver');
  // The policy arrives intact through nginx, and the page runs under it.
  const csp = response.headers()['content-security-policy'];
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(await page.locator('.signed-in').innerText(), PEOPLE.admin.email);
  assert.equal(await page.locator('.dev-banner').count(), 0);

  const oliver = row(page, 'Oliver Smith');
  await (await rowAction(page, 'Oliver Smith', 'Suspend')).click();
  await page.getByRole('dialog', { name: 'Suspend Oliver Smith?' }).getByRole('button', { name: 'Suspend' }).click();
  await oliver.locator('.badge', { hasText: 'Suspended' }).waitFor();
  assert.equal(stateOf('oliver.smith@example.com'), 'SUSPENDED');
  const id = keydesk.sql("SELECT id FROM users WHERE email = 'oliver.smith@example.com'");
  assert.equal(
    audit(`SELECT actor_email, actor_groups, outcome FROM audit WHERE action = 'suspend' AND targets LIKE '%${id}%'`),
    `${PEOPLE.admin.email}|["keydesk-admins","all-staff"]|succeeded`,
  );

  await page.getByRole('link', { name: 'Audit' }).click();
  const entry = page.locator('table.audit tbody tr', { hasText: id });
  await entry.waitFor();
  // A sentence with names; the raw values (the ID among them) are in the record's details.
  const admin = keydesk.sql(`SELECT display_name FROM users WHERE email = '${PEOPLE.admin.email}'`);
  const cells = await entry.locator('td').allInnerTexts();
  assert.match(cells[1], new RegExp(`^${admin} suspended Oliver Smith <oliver.smith@example.com>`));
  assert.equal(cells[2], 'succeeded');
  assert.deepEqual(problems, []);
  await close();
});

test('through nginx, the helpdesk cannot suspend, is told why, and begins a recovery', async () => {
  const { page, problems, close } = await openAs('helpdesk', '/?q=wanjiru');
  const grace = row(page, 'Grace Wanjiru');
  const suspend = await rowAction(page, 'Grace Wanjiru', 'Suspend');
  assert.equal(await suspend.getAttribute('aria-disabled'), 'true');
  assert.match(await suspend.getAttribute('title'), /'suspend' permission.*helpdesk/);
  // Playwright will not click what says it is disabled; a person still can.
  await suspend.dispatchEvent('click');
  assert.equal(await page.getByRole('dialog').count(), 0);
  assert.equal(await page.getByRole('link', { name: 'Audit' }).count(), 0);

  await grace.getByRole('checkbox', { name: 'Select Grace Wanjiru' }).check();
  const begin = page.getByRole('region', { name: 'Selected people' }).getByRole('button', { name: 'Begin recovery' });
  assert.equal(await begin.getAttribute('aria-disabled'), null);
  await begin.click();
  const dialog = page.getByRole('dialog', { name: /Begin recovery/ });
  await dialog.getByRole('button', { name: 'Begin recovery' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(stateOf('grace.wanjiru@example.com'), 'RECOVERY_STARTED');
  assert.equal(
    audit("SELECT actor_email || ' ' || outcome FROM audit WHERE action = 'begin_recovery'"),
    `${PEOPLE.helpdesk.email} succeeded`,
  );
  assert.deepEqual(problems, []);
  await close();
});

test('through nginx without signing in, the page says so instead of showing a table', async () => {
  const { page, problems, close } = await openAs(null);
  await page.getByRole('heading', { name: 'You are not signed in' }).waitFor();
  assert.match(await page.getByRole('alert').innerText(), /SSO proxy sent no email/);
  assert.equal(await page.locator('table').count(), 0);
  assert.deepEqual(problems, []);
  await close();
});

test('identity headers count only when nginx sets them', async () => {
  const forged = {
    'X-Forwarded-Email': PEOPLE.admin.email,
    'X-Forwarded-Groups': 'keydesk-owners',
    X_Forwarded_Email: PEOPLE.admin.email,
  };
  // Straight to Keydesk, bypassing nginx: from the same address, but without the secret.
  const direct = await fetch(`${keydesk.url}/api/session`, { headers: forged });
  assert.equal(direct.status, 401);
  assert.match((await direct.json()).error.message, /shared secret/);
  const wrongSecret = await fetch(`${keydesk.url}/api/session`, {
    headers: { ...forged, 'X-Keydesk-Proxy-Secret': 'guessed-guessed-guessed' },
  });
  assert.equal(wrongSecret.status, 401);
  // The same from a browser on Keydesk's own address.
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(keydesk.url + '/');
  await page.getByRole('heading', { name: 'You are not signed in' }).waitFor();
  const status = await page.evaluate(
    async ({ url, email }) =>
      (await fetch(url, { headers: { 'X-Forwarded-Email': email, 'X-Forwarded-Groups': 'keydesk-admins' } })).status,
    { url: `${keydesk.url}/api/session`, email: PEOPLE.admin.email },
  );
  assert.equal(status, 401);
  await context.close();

  // Through nginx: what the client claims is replaced by what the SSO says.
  const through = (headers) => fetch(`${nginx.url}/api/session`, { headers: { cookie: 'who=helpdesk', ...headers } });
  const session = await (await through(forged)).json();
  assert.equal(session.email, PEOPLE.helpdesk.email);
  assert.deepEqual(session.roles, ['helpdesk']);
  const anonymous = await fetch(`${nginx.url}/api/session`, { headers: forged });
  assert.equal(anonymous.status, 401);

  // Nor can a client put a made-up address into the audit trail.
  const ana = keydesk.sql("SELECT id FROM users WHERE email = 'ana.goncalves@example.com'");
  const suspend = await fetch(`${nginx.url}/v1beta1/accounts/${ACCOUNT}/users/${ana}:suspend`, {
    method: 'POST',
    headers: { cookie: 'who=helpdesk', 'X-Forwarded-For': '203.0.113.66' },
  });
  assert.equal(suspend.status, 403, await suspend.text());
  assert.equal(
    audit(`SELECT actor_email || ' ' || client_address FROM audit WHERE outcome = 'denied' AND targets LIKE '%${ana}%'`),
    `${PEOPLE.helpdesk.email} 127.0.0.1`,
  );
});

test('nginx keeps the Host, so a same-origin change without Fetch Metadata passes and a foreign one does not', async () => {
  const oliver = keydesk.sql("SELECT id FROM users WHERE email = 'oliver.smith@example.com'");
  const reactivate = (origin) =>
    fetch(`${nginx.url}/v1beta1/accounts/${ACCOUNT}/users/${oliver}:reactivate`, {
      method: 'POST',
      headers: { cookie: 'who=admin', origin },
    });
  const foreign = await reactivate('https://evil.example');
  assert.equal(foreign.status, 403, await foreign.text());
  assert.equal(stateOf('oliver.smith@example.com'), 'SUSPENDED');
  const own = await reactivate(nginx.url);
  assert.equal(own.status, 200, await own.text());
  assert.equal(stateOf('oliver.smith@example.com'), 'ACTIVE');
});

test("through nginx, one admin's suspension shows on another admin's open page within a second", async () => {
  const mine = await openAs('admin', '/?q=ngozi');
  const theirs = await openAs('colleague', '/?q=ngozi');
  const theirRow = row(theirs.page, 'Ngozi Adeyemi');
  await theirRow.getByText('Active', { exact: true }).waitFor();
  // The other admin is about to suspend her too: their dialog is open.
  await (await rowAction(theirs.page, 'Ngozi Adeyemi', 'Suspend')).click();
  const theirDialog = theirs.page.getByRole('dialog', { name: 'Suspend Ngozi Adeyemi?' });
  await theirDialog.waitFor();
  await (await rowAction(mine.page, 'Ngozi Adeyemi', 'Suspend')).click();
  const dialog = mine.page.getByRole('dialog', { name: 'Suspend Ngozi Adeyemi?' });
  await dialog.getByLabel('Reason').fill('laptop stolen');
  await dialog.getByLabel('Ticket').fill('INC-77');
  await dialog.getByRole('button', { name: 'Suspend' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(stateOf('ngozi.adeyemi@example.com'), 'SUSPENDED');
  // No reload on the other page: its open dialog says so before they send anything, and its
  // row follows, through the event stream.
  await theirDialog.getByText('Someone else changed Ngozi Adeyemi while this was open: they are now Suspended.').waitFor({ timeout: 1000 });
  await theirDialog.getByRole('button', { name: 'Cancel' }).click();
  await theirRow.getByText('Suspended', { exact: true }).waitFor({ timeout: 1000 });
  // Their person page says why, with the ticket.
  await theirRow.getByRole('link', { name: 'Ngozi Adeyemi' }).click();
  await theirs.page.getByText('Suspended by Amara Okafor').waitFor();
  assert.match(await theirs.page.locator('.standing').innerText(), /laptop stolen \(INC-77\)/);
  assert.deepEqual([...mine.problems, ...theirs.problems], []);
  await mine.close();
  await theirs.close();
});

test('through nginx, the admin who began a recovery cannot complete it; another admin can, after the checklist', async () => {
  const mine = await openAs('admin', '/?q=lindqvist');
  await (await rowAction(mine.page, 'Astrid Lindqvist', 'Begin recovery')).click();
  const begin = mine.page.getByRole('dialog', { name: 'Begin recovery for Astrid Lindqvist?' });
  await begin.getByLabel('Reason').fill('lost their phone and password');
  await begin.getByRole('button', { name: 'Begin recovery' }).click();
  await begin.waitFor({ state: 'hidden' });
  // Astrid accepts through the link in the email.
  const link = keydesk.sql("SELECT link FROM outbox WHERE to_address = 'astrid.lindqvist@example.com' ORDER BY id DESC LIMIT 1");
  const token = link.split('#')[1];
  const accepted = await fetch(keydesk.url + '/api/recovery:accept', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, email: 'astrid.lindqvist@example.com', password: 'correct horse battery staple' }),
  });
  assert.equal(accepted.status, 200);

  // The admin who began it sees why Complete is not for them (the row followed by itself).
  const myComplete = row(mine.page, 'Astrid Lindqvist').getByRole('button', { name: 'Complete recovery Astrid Lindqvist' });
  await myComplete.waitFor();
  assert.equal(await myComplete.getAttribute('aria-disabled'), 'true');
  assert.match(await myComplete.getAttribute('title'), /another admin must complete it/);

  // Another admin completes it once every check is ticked.
  const theirs = await openAs('colleague', '/?q=lindqvist');
  await (await rowAction(theirs.page, 'Astrid Lindqvist', 'Complete recovery')).click();
  const complete = theirs.page.getByRole('dialog', { name: 'Complete recovery for Astrid Lindqvist?' });
  const confirm = complete.getByRole('button', { name: 'Complete recovery' });
  assert.equal(await confirm.isDisabled(), true);
  for (const check of await complete.getByRole('checkbox').all()) await check.check();
  await confirm.click();
  await complete.waitFor({ state: 'hidden' });
  assert.equal(stateOf('astrid.lindqvist@example.com'), 'ACTIVE');
  const checked = audit("SELECT json_extract(note, '$.checked') FROM audit WHERE action = 'complete_recovery' AND outcome = 'succeeded' ORDER BY seq DESC LIMIT 1");
  assert.match(checked, /a number we already had/);
  assert.deepEqual([...mine.problems, ...theirs.problems], []);
  await mine.close();
  await theirs.close();
});
