// The SSO proxy known by its client certificate: the README's nginx and Keydesk configuration,
// with Keydesk speaking HTTPS and believing identity headers only on connections that present a
// certificate of the proxy's CA named sso-proxy (`[auth.proxy] client_ca`, `client_names`), and
// no shared secret at all. nginx presents it with `proxy_ssl_certificate`; a second nginx, the
// same but without it, shows the same SSO headers signing nobody in. Certificates made by openssl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKeydesk, launchBrowser, httpsRequest, makeCertificates, row, rowAction } from './harness.mjs';
import { PEOPLE, startSso, fromReadme, startNginx, openAs } from './sso_proxy.mjs';

const certificates = mkdtempSync(join(tmpdir(), 'keydesk-certificates-'));
const pem = makeCertificates(certificates);
const at = (name) => join(certificates, name);

let keydesk;
let sso;
let withCertificate;
let withoutCertificate;
let browser;

/** The README's toml, its shared secret replaced by the proxy's CA and name, over HTTPS. */
function keydeskSettings() {
  const readme = fromReadme('toml', [
    ['secret_header = "X-Keydesk-Proxy-Secret"', `client_ca = "${at('ca.pem')}"`],
    ['secret_file = "/etc/keydesk/proxy-secret"', 'client_names = ["sso-proxy"]'],
  ]);
  return `${readme}\n[server.tls]\ncertificate = "${at('server.pem')}"\nkey = "${at('server-key.pem')}"\n`;
}

/**
 * The README's nginx server, speaking HTTPS to Keydesk and checking Keydesk's certificate, in
 * place of the shared secret; presenting the proxy's client certificate if `present`.
 */
const nginxServer = (ssoPort, keydeskPort, present) => (port) => {
  const clientCertificate = present
    ? `proxy_ssl_certificate ${at('proxy.pem')};\n       proxy_ssl_certificate_key ${at('proxy-key.pem')};`
    : '';
  return fromReadme('nginx', [
    ['listen 443 ssl;', `listen 127.0.0.1:${port};`],
    ['http://127.0.0.1:8080', `https://127.0.0.1:${keydeskPort}`],
    ['127.0.0.1:4180', `127.0.0.1:${ssoPort}`],
    [
      'proxy_set_header X-Keydesk-Proxy-Secret "the contents of /etc/keydesk/proxy-secret";',
      `${clientCertificate}
       proxy_ssl_trusted_certificate ${at('ca.pem')};
       proxy_ssl_verify on;
       proxy_ssl_name keydesk.test;`,
    ],
  ]);
};

before(async () => {
  keydesk = await startKeydesk({ settings: keydeskSettings(), ca: pem('ca.pem') });
  sso = await startSso();
  const keydeskPort = new URL(keydesk.url).port;
  withCertificate = await startNginx(nginxServer(sso.port, keydeskPort, true));
  withoutCertificate = await startNginx(nginxServer(sso.port, keydeskPort, false));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await withCertificate?.stop();
  await withoutCertificate?.stop();
  sso?.stop();
  keydesk?.stop();
  rmSync(certificates, { recursive: true, force: true });
});

const stateOf = (email) => keydesk.sql(`SELECT state FROM users WHERE email = '${email}'`);

test("through nginx presenting the proxy's certificate, an admin signs in and suspends someone", async () => {
  const { page, problems, close } = await openAs(browser, withCertificate.url, 'admin', '/?q=oliver');
  assert.equal(await page.locator('.signed-in').innerText(), PEOPLE.admin.email);
  await (await rowAction(page, 'Oliver Smith', 'Suspend')).click();
  await page.getByRole('dialog', { name: 'Suspend Oliver Smith?' }).getByRole('button', { name: 'Suspend' }).click();
  await row(page, 'Oliver Smith').locator('.badge', { hasText: 'Suspended' }).waitFor();
  assert.equal(stateOf('oliver.smith@example.com'), 'SUSPENDED');
  assert.equal(
    keydesk.sql("SELECT actor_email || ' ' || outcome FROM audit WHERE action = 'suspend'"),
    `${PEOPLE.admin.email} succeeded`,
  );
  assert.deepEqual(problems, []);
  await close();
});

test("through the same nginx without the proxy's certificate, the same SSO headers sign nobody in", async () => {
  const { page, problems, close } = await openAs(browser, withoutCertificate.url, 'admin');
  await page.getByRole('heading', { name: 'You are not signed in' }).waitFor();
  assert.match(await page.getByRole('alert').innerText(), /presented no client certificate/);
  assert.equal(await page.locator('table').count(), 0);
  assert.deepEqual(problems, []);
  await close();
  const session = await fetch(`${withoutCertificate.url}/api/session`, { headers: { cookie: 'who=admin' } });
  assert.equal(session.status, 401);
  assert.equal(
    keydesk.sql("SELECT actor_email FROM audit WHERE action = 'sign_in' AND outcome = 'denied' AND reason LIKE '%no client certificate%' LIMIT 1"),
    `unverified: ${PEOPLE.admin.email}`,
  );
  // Keydesk still serves the connection (a health check needs no certificate); it only does not
  // believe who it says is signed in.
  const healthz = await fetch(`${withoutCertificate.url}/healthz`);
  assert.equal(healthz.status, 200);
});

test('straight to Keydesk, only the proxy\'s own certificate makes identity headers count', async () => {
  const forged = { 'X-Forwarded-Email': PEOPLE.admin.email, 'X-Forwarded-Groups': 'keydesk-owners' };
  const ca = pem('ca.pem');
  const session = (options) => httpsRequest(`${keydesk.url}/api/session`, { ca, headers: forged, ...options });
  const anonymous = await session({});
  assert.equal(anonymous.status, 401);
  assert.match(JSON.parse(anonymous.body).error.message, /no client certificate/);
  // The proxy's name, but from a CA Keydesk does not trust: the handshake fails.
  await assert.rejects(session({ cert: pem('impostor.pem'), key: pem('impostor-key.pem') }));
  // With the proxy's own certificate and key, whoever holds them is the proxy: keep them as
  // secret as the shared secret was.
  const proxy = await session({ cert: pem('proxy.pem'), key: pem('proxy-key.pem') });
  assert.equal(proxy.status, 200, proxy.body);
  assert.equal(JSON.parse(proxy.body).email, PEOPLE.admin.email);
});
