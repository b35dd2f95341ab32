// The page against a 1Password account: a Keydesk in upstream mode, talking to a second Keydesk
// that stands in for the 1Password cloud (OAuth client credentials, a Users API that says only
// ACTIVE, SUSPENDED or STATE_UNSPECIFIED) and to the `op` stand-in (recovery, and who is in it),
// which Keydesk signs in with a password file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ROOT, ACCOUNT, startKeydesk, launchBrowser, watchConsole, seriousViolations, row, rowAction } from './harness.mjs';

const SECRET = 'e2e-upstream-client-secret-0123456789';
const CONSOLE = 'https://example.1password.com';
// The recovery user's account password, as the op stand-in knows it (its `password` file).
const OP_PASSWORD = 'e2e recovery user password';
const CHECKLIST = ['I spoke to them on a number we already had', 'They confirmed the new password was set by them'];

let cloud;
let keydesk;
let browser;

/** Keydesk reading the cloud at `baseUrl`; `op` signs in with the password file unless `signedIn`
 * is false. Readings every two seconds, so a change made in the console shows soon. */
function upstreamSettings(baseUrl, { signedIn = true } = {}) {
  const passwordFile = signedIn ? 'password_file = "{dir}/op-password"' : '';
  return `
[directory]
backend = "upstream"

[directory.upstream]
base_url = "${baseUrl}"
allow_custom_base_url = true
account_id = "${ACCOUNT}"
client_id = "keydesk-e2e"
client_secret_file = "{dir}/client-secret"
admin_console_url = "${CONSOLE}"
request_timeout = "2s"
max_attempts = 2
refresh_interval = "2s"

[directory.upstream.op]
path = "${join(ROOT, 'server/tests/fixtures/op')}"
pass_env = ["PATH"]
account = "keydesk"
${passwordFile}
env = { OP_STANDIN_STATE = "{dir}", OP_STANDIN_KEYDESK = "${baseUrl}", OP_STANDIN_ACCOUNT = "${ACCOUNT}" }
`;
}

const upstreamFiles = { 'client-secret': SECRET, password: OP_PASSWORD, 'op-password': OP_PASSWORD };

before(async () => {
  const digest = createHash('sha256').update(SECRET).digest('hex');
  // One pair of eyes: the console's completions are made as the cloud's one identity.
  cloud = await startKeydesk({
    settings: `[recovery]\nfour_eyes = false\n\n[[oauth.clients]]\nclient_id = "keydesk-e2e"\nsecret_sha256 = "${digest}"\n`,
  });
  keydesk = await startKeydesk({ settings: upstreamSettings(cloud.url), files: upstreamFiles });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  keydesk?.stop();
  cloud?.stop();
});

const cloudState = (email) => cloud.sql(`SELECT state FROM users WHERE email = '${email}'`);

/** A change made in 1Password's own admin console: on the cloud, as its admin. */
async function inTheConsole(email, method, body = {}) {
  const id = cloud.sql(`SELECT id FROM users WHERE email = '${email}'`);
  const answer = await fetch(`${cloud.url}/v1beta1/accounts/${ACCOUNT}/users/${id}:${method}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.equal(answer.status, 200, await answer.text());
}

test('the page works on the snapshot, changes go to 1Password, completion points to the console', async () => {
  const page = await browser.newPage();
  const problems = watchConsole(page);
  await page.goto(keydesk.url + '/');
  await row(page, 'Fatima Zahra').waitFor();

  // The snapshot's age is shown, and there is no Outbox: 1Password sends the emails.
  assert.match(await page.locator('.snapshot').innerText(), /1Password/);
  assert.equal(await page.getByRole('link', { name: 'Outbox' }).count(), 0);

  // RECOVERY_ACCEPTED: 1Password completes it in its admin console. The checklist comes first,
  // Keydesk records it, then the console opens.
  const accepted = row(page, 'Fatima Zahra');
  await accepted.getByRole('button', { name: /in the 1Password admin console/ }).click();
  const complete = page.getByRole('dialog', { name: 'Complete recovery for Fatima Zahra?' });
  const confirm = complete.getByRole('button', { name: 'Complete recovery' });
  assert.equal(await confirm.isDisabled(), true);
  for (const check of await complete.getByRole('checkbox').all()) await check.check();
  // The console is 1Password's site, out of reach here: the browser is answered for it.
  await page.context().route(`${CONSOLE}/**`, (route) => route.fulfill({ body: 'the admin console' }));
  const [popup] = await Promise.all([page.waitForEvent('popup'), confirm.click()]);
  await popup.waitForLoadState();
  assert.equal(popup.url().replace(/\/$/, ''), CONSOLE);
  await popup.close();
  await complete.waitFor({ state: 'hidden' });
  assert.match(await page.getByRole('status').first().innerText(), /checks for Fatima Zahra are recorded/);
  assert.equal(cloudState('fatima.zahra@example.com'), 'RECOVERY_ACCEPTED');
  assert.equal(
    keydesk.sql("SELECT outcome FROM audit WHERE action = 'confirm_identity' ORDER BY seq DESC LIMIT 1", 'audit.db'),
    'succeeded');

  // Search runs over the snapshot.
  await page.getByRole('searchbox', { name: 'Search users' }).fill('wisniewski');
  await page.waitForURL(/q=wisniewski/);
  // The address changes as the search is asked, and Łukasz is already among the first rows:
  // the answer is in when someone who does not match has gone.
  await row(page, 'Aarav Sharma').waitFor({ state: 'detached' });
  await row(page, 'Łukasz Wiśniewski').waitFor();
  assert.equal(await page.locator('tbody tr').count(), 1);

  // Suspend through the dialog: the cloud changes, and the row at once.
  await page.getByRole('searchbox', { name: 'Search users' }).fill('Aarav');
  await row(page, 'Aarav Sharma').waitFor();
  assert.equal(cloudState('aarav.sharma@example.com'), 'ACTIVE');
  await (await rowAction(page, 'Aarav Sharma', 'Suspend')).click();
  const dialog = page.getByRole('dialog', { name: /Suspend Aarav Sharma/ });
  await dialog.waitFor();
  assert.deepEqual(await seriousViolations(page, 'dialog'), []);
  await dialog.getByRole('button', { name: 'Suspend' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(cloudState('aarav.sharma@example.com'), 'SUSPENDED');
  await row(page, 'Aarav Sharma').getByText('SUSPENDED').waitFor();

  // Audited by the upstream Keydesk, as the person; by the cloud, as the OAuth client.
  assert.match(keydesk.sql("SELECT actor_email || ' ' || action || ' ' || outcome FROM audit ORDER BY seq DESC LIMIT 1", 'audit.db'),
    /amara\.okafor@example\.com suspend succeeded/i);
  assert.match(cloud.sql("SELECT actor_email FROM audit WHERE action = 'suspend' ORDER BY seq DESC LIMIT 1", 'keydesk.db'),
    /keydesk-e2e/);
  assert.deepEqual(problems, []);
});

test('awaiting completion comes from op, and a completion in the console is seen and said', async () => {
  const page = await browser.newPage();
  const problems = watchConsole(page);
  await page.goto(keydesk.url + '/?state=RECOVERY_ACCEPTED');
  // The cloud's Users API calls her ACTIVE; op says she is waiting.
  const waiting = row(page, 'Łukasz Wiśniewski');
  await waiting.waitFor();
  await inTheConsole('lukasz.wisniewski@example.com', 'completeRecovery', { checked: CHECKLIST });
  // The next reading sees it: her row leaves the list by itself.
  await waiting.waitFor({ state: 'detached', timeout: 10000 });
  await page.goto(keydesk.url + '/');
  await page.getByRole('searchbox', { name: 'Search users' }).fill('wisniewski');
  await row(page, 'Łukasz Wiśniewski').locator('td.person a').click();
  await page.getByText(/Recovery completed in 1Password, seen by Keydesk/).waitFor();
  await page.getByText(/recovery completed in 1Password \(Recovery accepted → Active\), seen by Keydesk/).waitFor();
  assert.equal(
    keydesk.sql("SELECT actor_email || ' ' || action || ' ' || outcome FROM audit WHERE outcome = 'observed' ORDER BY seq DESC LIMIT 1", 'audit.db'),
    '1Password complete_recovery observed');
  assert.deepEqual(problems, []);
});

test('recovery begun through op stays started through later readings', async () => {
  const page = await browser.newPage();
  await page.goto(keydesk.url + '/');
  await page.getByRole('searchbox', { name: 'Search users' }).fill('Priya');
  const person = row(page, 'Priya Raghunathan');
  await person.waitFor();
  await (await rowAction(page, 'Priya Raghunathan', 'Begin recovery')).click();
  const dialog = page.getByRole('dialog', { name: /Begin recovery for Priya Raghunathan/ });
  await dialog.getByRole('button', { name: /Begin recovery/ }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(cloudState('priya.raghunathan@example.com'), 'RECOVERY_STARTED');
  // Two readings later (they come every two seconds), still Recovery started, on a fresh load.
  await new Promise((r) => setTimeout(r, 5000));
  await page.reload();
  await row(page, 'Priya Raghunathan').getByText('Recovery started').waitFor();
});

test('without op signed in, Begin recovery says why before anyone clicks', async () => {
  const unsigned = await startKeydesk({
    settings: upstreamSettings(cloud.url, { signedIn: false }),
    files: upstreamFiles,
  });
  try {
    const page = await browser.newPage();
    const problems = watchConsole(page);
    await page.goto(unsigned.url + '/');
    const said = page.getByText(/^Recovery is unavailable: op is not signed in \(You are not currently signed in/);
    await said.waitFor();
    await page.getByRole('searchbox', { name: 'Search users' }).fill('Ngozi');
    // The search's answer is in (the table no longer dimmed) when Aarav, who does not match, is gone.
    await row(page, 'Aarav Sharma').waitFor({ state: 'detached' });
    await page.locator('table.users[aria-busy="false"]').waitFor();
    const begin = await rowAction(page, 'Ngozi Adeyemi', 'Begin recovery');
    assert.equal(await begin.getAttribute('aria-disabled'), 'true');
    assert.match(await begin.getAttribute('title'), /Recovery is unavailable: op is not signed in/);
    // Pressed anyway: no dialog opens that could only fail.
    await begin.click({ force: true });
    assert.equal(await page.getByRole('dialog').count(), 0);
    assert.deepEqual(await seriousViolations(page), []);
    assert.deepEqual(problems, []);
  } finally {
    unsigned.stop();
  }
});

test('an unreachable 1Password is said on the page, not a blank screen', async () => {
  const down = await startKeydesk({
    settings: upstreamSettings('http://127.0.0.1:9'),
    files: upstreamFiles,
  });
  try {
    const page = await browser.newPage();
    await page.goto(down.url + '/');
    await page.getByText(/unreachable/).first().waitFor();
  } finally {
    down.stop();
  }
});
