// What every part of the benchmark shares: where the server and the page are, the directories it
// generates, the server it starts over one of them, its memory, load with wrk, and the figures'
// formatting. Settings (environment) are listed in bench.mjs.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ACCOUNT, freePort, waitUntilHealthy } from '../tests/e2e/harness.mjs';

export { ACCOUNT };
export const ROOT = path.resolve(import.meta.dirname, '..');
const TARGET = path.resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target');
export const SERVER = process.env.KEYDESK_BENCH_SERVER || path.join(TARGET, 'release/keydesk-server');
export const DIST = process.env.KEYDESK_BENCH_DIST || path.join(ROOT, 'dist');
export const USERS_PATH = `/v1beta1/accounts/${ACCOUNT}/users`;
const WRK_CONNECTIONS = 4;

export const log = (...args) => console.error('  ·', ...args);
export const sleep = (millis) => new Promise((ok) => setTimeout(ok, millis));
export const median = (xs) => quantile(xs, 0.5);
export function quantile(xs, q) {
  const sorted = [...xs].sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  // Nearest rank: the smallest value at least q of the samples are at or below.
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
export const kb = (bytes) => `${(bytes / 1000).toFixed(1)} kB`;
export const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
export const ms = (x) => (Number.isFinite(x) ? `${x < 10 ? x.toFixed(2) : x.toFixed(0)} ms` : 'n/a');
export const seconds = (millis) => `${(millis / 1000).toFixed(1)} s`;
const since = (started) => Number(process.hrtime.bigint() - started) / 1e6;

// ---- The directories and the server ----

/** `keydesk-server generate`: how long it took, in milliseconds. */
export function generate(dataDir, users) {
  const started = process.hrtime.bigint();
  const run = spawnSync(SERVER, ['generate', '--users', String(users), '--data-dir', dataDir], {
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`generate failed: ${run.stderr}`);
  return since(started);
}

/** Start the server over `dataDir`; `dist` (default: the page inside the binary) and a
 * configuration file's `settings` are optional. Also says how long it took from the spawn to
 * `/healthz` answering, polled every 5 ms. */
export async function startServer(dataDir, { dist, settings, env = {} } = {}) {
  const port = await freePort();
  const config = settings ? path.join(dataDir, 'keydesk.toml') : undefined;
  if (config) fs.writeFileSync(config, settings);
  const logFile = fs.openSync(path.join(dataDir, 'server.log'), 'w');
  const started = process.hrtime.bigint();
  const child = spawn(SERVER, [], {
    env: {
      ...process.env,
      KEYDESK_LISTEN: `127.0.0.1:${port}`,
      KEYDESK_DATA_DIR: dataDir,
      KEYDESK_ACCOUNT_ID: ACCOUNT,
      ...(dist ? { KEYDESK_DIST: dist } : {}),
      ...(config ? { KEYDESK_CONFIG: config } : {}),
      ...env,
    },
    stdio: ['ignore', logFile, logFile],
  });
  fs.closeSync(logFile);
  const url = `http://127.0.0.1:${port}`;
  const serverLog = () => fs.readFileSync(path.join(dataDir, 'server.log'), 'utf8');
  const healthy = async (url) => {
    const ok = (await fetch(`${url}/healthz`)).ok;
    if (!ok) await sleep(5);
    return ok;
  };
  await waitUntilHealthy(url, child, serverLog, 60000, healthy);
  const healthyMs = since(started);
  return {
    url,
    pid: child.pid,
    started,
    healthyMs,
    stop: () => new Promise((ok) => {
      if (child.exitCode !== null) return ok();
      child.once('exit', ok);
      child.kill('SIGTERM');
    }),
  };
}

/** From the server's spawn to its first answer to a search (which waits for the search index
 * the server builds as it starts), asked as soon as it is healthy. */
export async function firstSearchMs(server, q) {
  await getJson(`${server.url}${USERS_PATH}?max_page_size=50&q=${encodeURIComponent(q)}`);
  return since(server.started);
}

export async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Resident memory of a process, from /proc: now, at its peak, and the part that is file pages
 * (the database file mapped into memory, which the kernel can drop and share). */
export function memoryOf(pid) {
  const read = (file) => fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  const field = (text, name) => Number((text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm')) || [])[1]) * 1024;
  const status = read('status');
  // Each pooled SQLite connection maps the file itself, and VmRSS counts a page once per
  // mapping; the proportional figure counts it once.
  const rollup = read('smaps_rollup');
  return {
    rss: field(status, 'VmRSS'), peak: field(status, 'VmHWM'), anon: field(status, 'RssAnon'),
    file: field(status, 'RssFile'), pss: field(rollup, 'Pss'),
  };
}

// ---- Load on the list endpoint ----

export function wrk(url, paths, seconds) {
  const run = spawnSync('wrk', ['-t1', `-c${WRK_CONNECTIONS}`, `-d${seconds}s`, '--timeout', '5s',
    '-s', path.join(import.meta.dirname, 'list-users.lua'), url], {
    encoding: 'utf8',
    env: { ...process.env, KEYDESK_BENCH_PATHS: paths.join('\n') },
  });
  const line = (run.stdout || '').split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (!line) throw new Error(`wrk gave no figures: ${run.stderr}${run.stdout}`);
  const figures = JSON.parse(line.slice('WRK_JSON '.length));
  return { ...figures, rps: figures.requests / (figures.duration_us / 1e6), connections: WRK_CONNECTIONS, seconds };
}
