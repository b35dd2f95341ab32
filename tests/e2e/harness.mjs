// Starts the real release server on a free loopback port with a fresh SQLite directory, serving
// the page built into it (no KEYDESK_DIST, as it runs in production), and Debian's headless
// Chromium to look at it.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequestRaw } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = resolve(import.meta.dirname, '../..');
const SERVER = join(ROOT, 'target/release/keydesk-server');
export const ACCOUNT = 'KEYDESKDEMOACCOUNTABCDEFGH';

export async function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

/**
 * A running Keydesk: `url`, `db` (the SQLite file), `sql(query, file)`, `stop()`. Without options,
 * in development sign-in. `settings` is a keydesk.toml to run with; `files` ({ name: contents })
 * are written beside it, and `{dir}` in the settings stands for their directory. `env` adds
 * environment variables. With `ca` (PEM), Keydesk speaks HTTPS with a certificate that CA signed
 * for 127.0.0.1 (the settings' `[server.tls]`), and `url` is https.
 */
export async function startKeydesk({ settings, files = {}, env = {}, ca } = {}) {
  if (!existsSync(SERVER)) {
    throw new Error('build first: scripts/build (the release server, the page built into it)');
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'keydesk-e2e-'));
  for (const [name, contents] of Object.entries(files)) writeFileSync(join(dataDir, name), contents);
  if (settings !== undefined) {
    writeFileSync(join(dataDir, 'keydesk.toml'), settings.replaceAll('{dir}', dataDir));
    env = { KEYDESK_CONFIG: join(dataDir, 'keydesk.toml'), ...env };
  }
  const port = await freePort();
  // A KEYDESK_DIST from outside would serve that folder instead of the page inside the binary.
  const { KEYDESK_DIST: _, ...inherited } = process.env;
  const spawn = () => spawnQuiet(SERVER, [], {
    env: {
      ...inherited,
      KEYDESK_LISTEN: `127.0.0.1:${port}`,
      KEYDESK_DATA_DIR: dataDir,
      KEYDESK_ACCOUNT_ID: ACCOUNT,
      ...env,
    },
  });
  let child = spawn();
  const log = captureLog(child);
  const url = `${ca ? 'https' : 'http'}://127.0.0.1:${port}`;
  const healthy = ca ? async (url) => (await httpsRequest(`${url}/healthz`, { ca })).status === 200 : undefined;
  await waitUntilHealthy(url, child, log, undefined, healthy);
  const db = join(dataDir, 'keydesk.db');
  return {
    url,
    db,
    sql: (query, file = 'keydesk.db') =>
      execFileSync('sqlite3', [join(dataDir, file), query], { encoding: 'utf8' }).trim(),
    log,
    stop: () => {
      child.kill('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    },
    /** Stop the server (SIGTERM), run `meanwhile` while it is down, and start it again on the
     * same address and data. */
    restart: async (meanwhile = () => {}) => {
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await exited;
      meanwhile();
      child = spawn();
      await waitUntilHealthy(url, child, captureLog(child), undefined, healthy);
    },
  };
}

/**
 * Waits up to `timeoutMs` for `url`/healthz to answer 200 (or `healthy(url)` to say so), while
 * `child` runs; kills it otherwise.
 */
export async function waitUntilHealthy(url, child, log, timeoutMs = 15000, healthy = async (url) => (await fetch(`${url}/healthz`)).ok) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await healthy(url)) return;
    } catch {}
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill();
      throw new Error(`${child.spawnfile} did not become healthy:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** Fails the test on anything the page logs as an error or throws. */
export function watchConsole(page) {
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) {
      problems.push(`console error: ${msg.text()}`);
    }
  });
  return problems;
}

/** Runs axe-core in the page; returns the serious and critical violations. */
export async function seriousViolations(page, context) {
  // Evaluated through the DevTools protocol: the page's Content-Security-Policy rightly refuses
  // an injected <script>, and the tests run with that policy on.
  const source = readFileSync(join(import.meta.dirname, 'node_modules/axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  const results = await page.evaluate(async (ctx) => {
    // eslint-disable-next-line no-undef
    return await axe.run(ctx || document, { resultTypes: ['violations'] });
  }, context);
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** Starts a process with its output piped (not inherited), so a test's report stays readable. */
export function spawnQuiet(command, args, options = {}) {
  return spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Everything a child process writes, for the error message when it misbehaves. */
export function captureLog(child) {
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  return () => log;
}

/** The users table's row for the person called `name`. */
export const row = (page, name) =>
  page.locator('tbody tr', { has: page.locator('td.person a', { hasText: name }) });

/**
 * The button for `action` ("Suspend", "Begin recovery", …) on `name`'s row: the row's primary
 * action, or an entry of its "⋯" menu, which this opens as a person would.
 */
export async function rowAction(page, name, action) {
  const person = row(page, name);
  const label = `${action} ${name}`;
  await person.locator('td.actions button').first().waitFor();
  const primary = person.locator('td.actions > button.row-action', { hasText: action });
  if (await primary.count()) return primary;
  await person.getByRole('button', { name: `More actions for ${name}` }).click();
  const entry = person.locator('.menu').getByRole('button', { name: label });
  await entry.waitFor();
  return entry;
}

/**
 * A request over HTTPS that trusts only `ca` (PEM) and presents `cert` and `key` (PEM) if given,
 * on a connection of its own: `{ status, body }`, or a rejection when the handshake fails. (The
 * browser's fetch cannot be given a CA or a client certificate.)
 */
export function httpsRequest(url, { ca, cert, key, headers = {}, method = 'GET' } = {}) {
  return new Promise((ok, fail) => {
    const request = httpsRequestRaw(url, { ca, cert, key, headers, method, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => ok({ status: response.statusCode, body }));
      response.on('error', fail);
    });
    request.on('error', fail);
    request.end();
  });
}

/**
 * Certificates made with openssl in `dir`, each `NAME.pem` with its key `NAME-key.pem`: `ca`
 * signs Keydesk's `server` (keydesk.test and 127.0.0.1) and the proxy's client certificate
 * `proxy` (CN and DNS name sso-proxy); `other-ca`, which Keydesk does not trust, signs
 * `impostor`, with the proxy's name. Returns a function reading one file.
 */
export function makeCertificates(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const ca = (name) => openssl('req', '-x509', ...newKey, '-days', '2', '-subj', `/CN=Keydesk e2e ${name}`, '-keyout', `${name}-key.pem`, '-out', `${name}.pem`);
  const sign = (name, by, commonName, altNames, usage) => {
    openssl('req', '-new', ...newKey, '-subj', `/CN=${commonName}`, '-addext', `subjectAltName=${altNames}`, '-addext', `extendedKeyUsage=${usage}`, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.pem`, '-CAkey', `${by}-key.pem`, '-days', '2', '-copy_extensions', 'copy', '-out', `${name}.pem`);
  };
  ca('ca');
  ca('other-ca');
  sign('server', 'ca', 'keydesk.test', 'DNS:keydesk.test,IP:127.0.0.1', 'serverAuth');
  sign('proxy', 'ca', 'sso-proxy', 'DNS:sso-proxy', 'clientAuth');
  sign('impostor', 'other-ca', 'sso-proxy', 'DNS:sso-proxy', 'clientAuth');
  return (name) => readFileSync(join(dir, name), 'utf8');
}
