// With the server gone, the page says so in words a person understands.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeydesk, launchBrowser, rowAction } from './harness.mjs';

let keydesk;
let browser;

before(async () => {
  keydesk = await startKeydesk();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
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
