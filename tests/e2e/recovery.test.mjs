// Account recovery end to end: the helpdesk begins it for two people, each opens their link
// from the outbox and accepts, the helpdesk completes both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeydesk, launchBrowser, watchConsole, seriousViolations, row, rowAction } from './harness.mjs';

let keydesk;
let browser;

before(async () => {
  // One development identity begins and completes here; two people completing with four eyes
  // are proxy.test.mjs's.
  keydesk = await startKeydesk({ settings: '[recovery]\nfour_eyes = false\n' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  keydesk?.stop();
});

const PEOPLE = [
  { name: 'Aarav Sharma', email: 'aarav.sharma@example.com', search: 'aarav' },
  { name: 'Grace Wanjiru', email: 'grace.wanjiru@example.com', search: 'wanjiru' },
];
const SECRET_KEY = /^A3(-[2-9A-HJ-NP-TV-Z]{6}){2}(-[2-9A-HJ-NP-TV-Z]{5}){5}$/;
const stateOf = (email) => keydesk.sql(`SELECT state FROM users WHERE email = '${email}'`);

test('two people recovered from begin to complete', async () => {
  const page = await browser.newPage();
  const problems = watchConsole(page);
  await page.goto(keydesk.url + '/');
  const search = page.getByRole('searchbox', { name: 'Search users' });

  // The selection survives searching.
  for (const person of PEOPLE) {
    await search.fill(person.search);
    await page.waitForURL(new RegExp(`q=${person.search}`));
    await row(page, person.name).getByRole('checkbox', { name: `Select ${person.name}` }).check();
  }
  const bar = page.getByRole('region', { name: 'Selected people' });
  assert.match(await bar.innerText(), /2 people selected/);

  await bar.getByRole('button', { name: 'Begin recovery' }).click();
  const dialog = page.getByRole('dialog', { name: 'Begin recovery for 2 people?' });
  await dialog.waitFor();
  const listed = await dialog.locator('ul.people li').allInnerTexts();
  assert.equal(listed.length, 2);
  PEOPLE.forEach((person, i) => {
    assert.match(listed[i], new RegExp(person.name));
    assert.match(listed[i], new RegExp(person.email.replace('.', '\\.')));
  });
  assert.match(await dialog.innerText(), /new Secret Key/);
  assert.deepEqual(await seriousViolations(page, 'dialog'), []);
  await dialog.getByRole('button', { name: 'Begin recovery' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.match(await page.getByRole('status').first().innerText(), /Recovery begun for 2 people/);
  for (const person of PEOPLE) assert.equal(stateOf(person.email), 'RECOVERY_STARTED');

  // Each person opens their link from the outbox and accepts.
  await page.getByRole('link', { name: 'Outbox' }).click();
  await page.getByRole('heading', { name: 'Outbox' }).waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  for (const person of PEOPLE) {
    const link = page.getByRole('link', { name: `Open the recovery link for ${person.email}` });
    const href = await link.getAttribute('href');
    const personPage = await browser.newPage();
    const personProblems = watchConsole(personPage);
    await personPage.goto(href);
    await personPage.getByRole('heading', { name: `Recover the 1Password account of ${person.name}` }).waitFor();
    assert.equal(await personPage.getByRole('navigation').count(), 0, 'no admin navigation for the person');
    // When the link stops working, in local time and as time left.
    assert.match(await personPage.locator('main').innerText(), /works until [A-Z][a-z]{2} \d{1,2}, \d{4}, .*\(in \d+ (days|hours)\)/);
    // Two different passwords are caught in the page; another address by the server. Either
    // way the person is told, and nothing changes.
    const setPassword = personPage.getByRole('button', { name: /Set password/ });
    const alert = personPage.getByRole('alert');
    await personPage.getByLabel('Your email address').fill('someone.else@example.com');
    await personPage.getByLabel(/New account password/).fill('a long new password');
    await personPage.getByLabel('The same password again').fill('a long new passwort');
    await setPassword.click();
    assert.equal(await alert.innerText(), 'The two passwords are not the same.');
    await personPage.getByLabel('The same password again').fill('a long new password');
    await setPassword.click();
    await alert.getByText('That is not the email address this recovery link was sent to.').waitFor();
    assert.equal(stateOf(person.email), 'RECOVERY_STARTED');

    await personPage.getByLabel('Your email address').fill(person.email.toUpperCase());
    assert.deepEqual(await seriousViolations(personPage), []);
    await setPassword.click();
    const key = personPage.getByLabel('Secret Key', { exact: true });
    await key.waitFor();
    const keyText = (await key.innerText()).trim();
    assert.match(keyText, SECRET_KEY);
    // Copied in one press, or saved as a file made in the page.
    await personPage.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    const copy = personPage.getByRole('button', { name: 'Copy Secret Key' });
    await copy.click();
    await copy.filter({ hasText: 'Copied' }).waitFor();
    assert.equal(await personPage.evaluate(() => navigator.clipboard.readText()), keyText);
    const save = personPage.getByRole('link', { name: 'Save as a file' });
    assert.equal(await save.getAttribute('download'), '1Password Secret Key.txt');
    assert.ok(decodeURIComponent(await save.getAttribute('href')).endsWith(keyText));
    assert.equal(stateOf(person.email), 'RECOVERY_ACCEPTED');

    // The link works once.
    await personPage.goto('about:blank');
    await personPage.goto(href);
    await personPage.getByRole('heading', { name: 'This recovery link cannot be used' }).waitFor();
    assert.match(await personPage.getByRole('alert').innerText(), /already been used/);
    assert.deepEqual(personProblems, []);
    await personPage.close();
  }

  // The helpdesk completes both from the awaiting-completion view.
  await page.goto(keydesk.url + '/');
  const awaiting = page.getByRole('link', { name: /Awaiting completion/ });
  const accepted = Number(keydesk.sql("SELECT COUNT(*) FROM users WHERE state = 'RECOVERY_ACCEPTED'"));
  await page.waitForFunction(
    (n) => document.querySelector('nav .count')?.textContent === String(n), accepted);
  await awaiting.click();
  await page.getByRole('heading', { name: 'Recoveries awaiting completion' }).waitFor();
  for (const person of PEOPLE) {
    await row(page, person.name).getByRole('checkbox').check();
  }
  await bar.getByRole('button', { name: 'Complete recovery' }).click();
  const complete = page.getByRole('dialog', { name: 'Complete recovery for 2 people?' });
  await complete.waitFor();
  // Confirm stays off until every check is ticked.
  const confirm = complete.getByRole('button', { name: 'Complete recovery' });
  assert.equal(await confirm.isDisabled(), true);
  for (const check of await complete.getByRole('checkbox').all()) await check.check();
  await confirm.click();
  await complete.waitFor({ state: 'hidden' });
  assert.match(await page.getByRole('status').first().innerText(), /Completed recovery for 2 people/);
  // Completed, they leave the awaiting view at once, and the selection with them.
  assert.equal(await bar.count(), 0, 'nobody is left selected');
  for (const person of PEOPLE) {
    await row(page, person.name).waitFor({ state: 'detached' });
    assert.equal(stateOf(person.email), 'ACTIVE');
    assert.equal(
      keydesk.sql(`SELECT two_factor_enabled || '/' || signed_in_devices FROM users WHERE email = '${person.email}'`),
      '0/0');
  }
  await page.waitForFunction(
    (n) => document.querySelector('nav .count')?.textContent === String(n), accepted - 2);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a refused begin explains every offending person and changes nobody', async () => {
  const page = await browser.newPage();
  await page.goto(keydesk.url + '/?q=amara');
  // Amara Okafor is the signed-in (development) identity: her row is marked and offers nothing,
  // and the server refuses her own account even when she is selected with others.
  const own = row(page, 'Amara Okafor');
  await own.locator('.you', { hasText: 'you' }).waitFor();
  assert.equal(await own.locator('td.actions button').count(), 0, 'the own row offers no action');
  await own.getByRole('checkbox', { name: 'Select Amara Okafor' }).check();
  await page.getByRole('region', { name: 'Selected people' }).getByRole('button', { name: 'Begin recovery' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Begin recovery' }).click();
  const alert = dialog.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /your own account/);
  assert.equal(stateOf('amara.okafor@example.com'), 'ACTIVE');
  await page.close();
});

test('beginning again for someone already in recovery says no new email went out', async () => {
  const page = await browser.newPage();
  await page.goto(keydesk.url + '/?q=ava.brown');
  const emails = () => Number(keydesk.sql("SELECT COUNT(*) FROM outbox WHERE to_address = 'ava.brown@example.com'"));
  const before = emails();
  await row(page, 'Ava Brown').getByRole('checkbox', { name: 'Select Ava Brown' }).check();
  await page.getByRole('region', { name: 'Selected people' }).getByRole('button', { name: 'Begin recovery' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Begin recovery' }).click();
  await dialog.waitFor({ state: 'hidden' });
  const notice = await page.getByRole('status').first().innerText();
  assert.match(notice, /already under way for 1 person: Ava Brown\. No new email was sent/);
  assert.doesNotMatch(notice, /Each was sent an email/);
  assert.equal(emails(), before);
  await page.close();
});
