// With the server gone, the page says so in words a person understands.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeydesk, launchBrowser, row, rowAction } from './harness.mjs';

let keydesk;
let browser;

before(async () => {
  keydesk = await startKeydesk();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test('after the server restarts, the page reconnects by itself and shows what changed meanwhile', async () => {
  const page = await browser.newPage();
  await page.goto(keydesk.url + '/?q=costa');
  const rafael = row(page, 'Rafael Costa');
  await rafael.getByText('Active', { exact: true }).waitFor();
  // Changed while Keydesk was down (as a restore from a backup would): no event can say so, so
  // the stream's reset makes the page read its list again.
  await keydesk.restart(() =>
    keydesk.sql("UPDATE users SET state = 'SUSPENDED' WHERE email = 'rafael.costa@example.com'"));
  await rafael.getByText('Suspended', { exact: true }).waitFor({ timeout: 10000 });
  // And the stream is live again: a change made now shows at once.
  const id = keydesk.sql("SELECT id FROM users WHERE email = 'rafael.costa@example.com'");
  const reactivated = await fetch(`${keydesk.url}/v1beta1/accounts/KEYDESKDEMOACCOUNTABCDEFGH/users/${id}:reactivate`, { method: 'POST' });
  assert.equal(reactivated.status, 200);
  await rafael.getByText('Active', { exact: true }).waitFor({ timeout: 1000 });
  await page.close();
});

test('a change while the server is down says it could not be reached, not TypeError', async () => {
  const page = await browser.newPage();
  await page.goto(keydesk.url + '/?q=rafael');
  const suspend = await rowAction(page, 'Rafael Costa', 'Suspend');
  keydesk.stop();
  await new Promise((ok) => setTimeout(ok, 500));
  await suspend.click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Suspend' }).click();
  const alert = dialog.getByRole('alert');
  await alert.waitFor();
  const message = await alert.innerText();
  assert.match(message, /Keydesk could not be reached\. Check your connection and try again\./);
  assert.doesNotMatch(message, /TypeError|Failed to fetch/);
  // Asking again may work once it is back: the button stays live.
  assert.equal(await dialog.getByRole('button', { name: 'Suspend' }).isDisabled(), false);
  await page.close();
});
