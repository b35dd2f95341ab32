// Keydesk's benchmark: every figure of the "fast at 100,000 users" targets, side by side in one
// run, at 1,000, 10,000 and 100,000 generated users. scripts/bench builds first and runs this;
// it prints one table and writes it to bench-results/. It is a benchmark, not a test: it never
// fails because a figure misses its target.
//
// Settings (environment): KEYDESK_BENCH_SIZES (default 1000,10000,100000), KEYDESK_BENCH_LOADS
// (page loads per figure, default 15), KEYDESK_BENCH_ROUNDS (rounds of searches in the page,
// default 3), KEYDESK_BENCH_WRK_SECONDS (default 10), KEYDESK_BENCH_SERVER and
// KEYDESK_BENCH_DIST (default: the release build and dist/), KEYDESK_BENCH_ONLY=attacks (only
// the memory under attack, on the smallest size).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { ACCOUNT, freePort, launchBrowser, waitUntilHealthy } from '../tests/e2e/harness.mjs';
import { idleConnections, parallelAccepts } from './resources.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const TARGET = path.resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target');
const SERVER = process.env.KEYDESK_BENCH_SERVER || path.join(TARGET, 'release/keydesk-server');
const DIST = process.env.KEYDESK_BENCH_DIST || path.join(ROOT, 'dist');
const SIZES = (process.env.KEYDESK_BENCH_SIZES || '1000,10000,100000').split(',').map(Number);
const LOADS = Number(process.env.KEYDESK_BENCH_LOADS || 15);
const ROUNDS = Number(process.env.KEYDESK_BENCH_ROUNDS || 3);
const WRK_SECONDS = Number(process.env.KEYDESK_BENCH_WRK_SECONDS || 10);
const WRK_CONNECTIONS = 4;
const USERS_PATH = `/v1beta1/accounts/${ACCOUNT}/users`;
/** The page's debounce (src/routes/users.rs SEARCH_DEBOUNCE): the search starts this long after
 * the last keystroke, by design. */
const DEBOUNCE_MS = 250;
/** The page's first request (src/routes/users.rs PAGE_SIZE). */
const PAGE_ROWS = 50;

/** What a helpdesk types, against the generated people (seed.rs): first and last names, with
 * and without accents, a whole name, email fragments, a number, and no match. The first user's
 * ID, whole and in part, is added at run time. */
const SEARCHES = [
  'zoltan', 'Inès', 'malik', 'bergström', 'wojcik', 'tanaka', 'ada abara', 'kai.okoye',
  'yara zhou 6', 'gomez.4', '12345', 'nobody-here',
];

const log = (...args) => console.error('  ·', ...args);
const median = (xs) => quantile(xs, 0.5);
function quantile(xs, q) {
  const sorted = [...xs].sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  // Nearest rank: the smallest value at least q of the samples are at or below.
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
const kb = (bytes) => `${(bytes / 1000).toFixed(1)} kB`;
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const ms = (x) => (Number.isFinite(x) ? `${x < 10 ? x.toFixed(2) : x.toFixed(0)} ms` : 'n/a');
const sleep = (millis) => new Promise((ok) => setTimeout(ok, millis));

// ---- The directories and the server ----

function generate(dataDir, users) {
  const started = process.hrtime.bigint();
  const run = spawnSync(SERVER, ['generate', '--users', String(users), '--data-dir', dataDir], {
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`generate failed: ${run.stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function startServer(dataDir, dist, settings) {
  const port = await freePort();
  const config = settings ? path.join(dataDir, 'keydesk.toml') : undefined;
  if (config) fs.writeFileSync(config, settings);
  const logFile = fs.openSync(path.join(dataDir, 'server.log'), 'w');
  const child = spawn(SERVER, [], {
    env: {
      ...process.env,
      KEYDESK_LISTEN: `127.0.0.1:${port}`,
      KEYDESK_DATA_DIR: dataDir,
      KEYDESK_DIST: dist,
      KEYDESK_ACCOUNT_ID: ACCOUNT,
      ...(config ? { KEYDESK_CONFIG: config } : {}),
    },
    stdio: ['ignore', logFile, logFile],
  });
  const url = `http://127.0.0.1:${port}`;
  const serverLog = () => fs.readFileSync(path.join(dataDir, 'server.log'), 'utf8');
  await waitUntilHealthy(url, child, serverLog, 30000);
  return {
    url,
    pid: child.pid,
    stop: () => new Promise((ok) => {
      child.once('exit', ok);
      child.kill('SIGTERM');
    }),
  };
}

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Resident memory of a process, from /proc: now, at its peak, and the part that is file pages
 * (the database file mapped into memory, which the kernel can drop and share). */
function memoryOf(pid) {
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

// ---- The page over the wire ----

function pageSize(dist) {
  const files = fs.readdirSync(dist).filter((f) => /\.(wasm|js|css)$/.test(f));
  const sum = (suffix) =>
    files.reduce((total, f) => {
      const file = path.join(dist, f + suffix);
      if (!fs.existsSync(file)) throw new Error(`${file} is missing: scripts/build makes it`);
      return total + fs.statSync(file).size;
    }, 0);
  const by = (ext, suffix) =>
    files.filter((f) => f.endsWith(ext)).reduce((t, f) => t + fs.statSync(path.join(dist, f + suffix)).size, 0);
  return {
    files,
    raw: sum(''),
    gzip: sum('.gz'),
    brotli: sum('.br'),
    wasmGzip: by('.wasm', '.gz'),
    jsGzip: by('.js', '.gz'),
    cssGzip: by('.css', '.gz'),
    wasmBrotli: by('.wasm', '.br'),
  };
}

/** A GET as it comes over the wire: headers and the body's bytes, not decompressed. */
function rawGet(url, headers = {}) {
  return new Promise((ok, fail) => {
    http.get(url, { headers }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => ok({ headers: response.headers, body: Buffer.concat(chunks) }));
    }).on('error', fail);
  });
}

/** How the server sends the built page: each asset precompressed (the bytes of the .br / .gz
 * file, with that encoding), hashed assets cached for good, index.html never. */
async function servingCheck(url, dist, files) {
  const problems = [];
  for (const file of files) {
    for (const [encoding, suffix] of [['br', '.br'], ['gzip', '.gz']]) {
      const response = await rawGet(`${url}/${file}`, { 'accept-encoding': encoding });
      const expected = fs.readFileSync(path.join(dist, file + suffix));
      if (response.headers['content-encoding'] !== encoding || !response.body.equals(expected)) {
        problems.push(`${file} is not sent as its precompressed ${suffix}`);
      }
      const cache = response.headers['cache-control'] || '';
      if (!/max-age=31536000/.test(cache) || !/immutable/.test(cache)) {
        problems.push(`${file} is sent with cache-control "${cache}", not cached for good`);
      }
    }
  }
  // `/` carries the signed-in person's first rows, so it is also `private`.
  for (const page of ['/', '/index.html']) {
    const cache = (await rawGet(`${url}${page}`)).headers['cache-control'] || '';
    const directives = cache.split(',').map((d) => d.trim());
    if (!directives.includes('no-cache') || directives.some((d) => d !== 'no-cache' && d !== 'private')) {
      problems.push(`${page} has cache-control "${cache}", not no-cache`);
    }
  }
  return [...new Set(problems)];
}

// ---- The floor: the same rows as static HTML, from the same server ----

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const STATE_LABEL = {
  ACTIVE: ['Active', 'ok'], SUSPENDED: ['Suspended', 'stop'], PENDING: ['Pending', 'waiting'],
  RECOVERY_STARTED: ['Recovery started', 'attention'], RECOVERY_ACCEPTED: ['Recovery accepted', 'attention'],
  TRANSFER_PENDING: ['Transfer pending', 'waiting'],
};
const ACTIONS = { ACTIVE: ['Suspend', 'Begin recovery'], SUSPENDED: ['Reactivate'], RECOVERY_STARTED: ['Resend email'], RECOVERY_ACCEPTED: ['Complete recovery'] };

/** The users page's first screen as a static file: its stylesheet, header, heading and the
 * table with the same first rows and the same markup the page renders. */
function floorHtml(users, css) {
  const rows = users
    .map((u) => {
      const [label, tone] = STATE_LABEL[u.state] || [u.state, 'neutral'];
      const actions = (ACTIONS[u.state] || [])
        .map((a) => `<button type="button" class="row-action" aria-label="${escapeHtml(`${a} ${u.display_name}`)}">${a}</button>`)
        .join('');
      return `<tr data-user-id="${escapeHtml(u.id)}"><td class="select"><input type="checkbox" aria-label="Select ${escapeHtml(u.display_name)}"></td>` +
        `<td class="name">${escapeHtml(u.display_name)}</td><td class="email">${escapeHtml(u.email)}</td>` +
        `<td><span class="badge badge-${tone}" data-state="${u.state}">${label}</span></td>` +
        `<td>${u.type === 'GUEST' ? 'Guest' : 'Member'}</td>` +
        `<td><time datetime="${u.create_time}">${u.create_time.slice(0, 10)}</time></td>` +
        `<td class="actions">${actions}</td></tr>`;
    })
    .join('\n');
  const head = ['Name', 'Email', 'State', 'Type', 'Created']
    .map((h) => `<th scope="col"><button type="button" class="sort">${h}</button></th>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>Keydesk</title>${css.map((c) => `<link rel="stylesheet" href="/${c}">`).join('')}</head>
<body><header class="top"><a class="brand" href="/">Keydesk</a><nav aria-label="Keydesk"><a href="/">Users</a></nav></header>
<main id="main"><section class="users-page"><h1 id="users-heading">Users</h1>
<div class="table-scroll"><table class="users" aria-busy="false"><thead><tr><th scope="col" class="select"></th>${head}<th scope="col"></th></tr></thead>
<tbody>
${rows}
</tbody></table></div></section></main></body></html>
`;
}

/** A copy of dist with the floor beside the page, precompressed like the page's own files. */
function distWithFloor(dir) {
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(DIST, dir, { recursive: true });
  return (html) => {
    fs.writeFileSync(path.join(dir, 'floor.html'), html);
    fs.writeFileSync(path.join(dir, 'floor.html.gz'), zlib.gzipSync(html, { level: 9 }));
    fs.writeFileSync(path.join(dir, 'floor.html.br'), zlib.brotliCompressSync(html, {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 },
    }));
  };
}

// ---- In the browser ----

/** Runs before anything in every page: notes when the first user row enters the document, when
 * the wasm app started (and its memory), each input event, each search request, and each time
 * the table settles. Times are performance.now(): milliseconds since navigation started. */
function instrument() {
  const bench = (window.__bench = { firstRow: null, inputs: [], requests: [], settled: [], wasm: null });
  const fold = (text) =>
    text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase()
      .replace(/ł/g, 'l').replace(/ø/g, 'o').replace(/[đð]/g, 'd').replace(/ß/g, 'ss');
  bench.fold = fold;
  new MutationObserver(() => {
    if (bench.firstRow === null && document.querySelector('tbody tr[data-user-id]')) {
      bench.firstRow = performance.now();
    }
    if (bench.expect) bench.check();
  }).observe(document, { childList: true, subtree: true, attributes: true, attributeFilter: ['aria-busy'] });
  addEventListener('TrunkApplicationStarted', (event) => (bench.wasm = event.detail.wasm));
  addEventListener('input', (event) => bench.inputs.push(event.timeStamp), true);
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    const url = typeof input === 'string' ? input : input.url;
    if (!(/\/users\?/.test(url) && /[?&]q=/.test(url))) return fetch.apply(this, arguments);
    const request = { url, at: performance.now(), answered: null };
    bench.requests.push(request);
    return fetch.apply(this, arguments).then((response) => {
      request.answered = performance.now();
      return response;
    });
  };
  /** The table shows the answer to the search `bench.expect`: it is no longer loading, and
   * every row shown matches (or the "no users match" panel is up). */
  bench.check = () => {
    const needle = fold(bench.expect.trim());
    const table = document.querySelector('table.users');
    const busy = table && table.getAttribute('aria-busy') === 'true';
    if (busy) bench.sawBusy = true;
    if (!bench.sawBusy || busy) return;
    const rows = [...document.querySelectorAll('tbody tr[data-user-id]')];
    const matches = (tr) =>
      [tr.querySelector('td.name')?.textContent || '', tr.querySelector('td.email')?.textContent || '',
        tr.getAttribute('data-user-id')].some((t) => fold(t).includes(needle));
    const empty = !table && document.querySelector('.panel.empty');
    if ((rows.length && rows.every(matches)) || empty) {
      bench.settled.push({ q: bench.expect, at: performance.now(), rows: rows.length });
      bench.expect = null;
    }
  };
}

async function newPage(browser) {
  const context = await browser.newContext();
  await context.addInitScript(instrument);
  const page = await context.newPage();
  return { context, page };
}

/** Navigation to the first user row, in a fresh browser context (nothing cached), or in `warm`,
 * one that has loaded the page before (the hashed assets cached, as for a returning admin). */
async function firstRowTime(browser, url, warm) {
  const { context, page } = warm ? { context: warm, page: await warm.newPage() } : await newPage(browser);
  try {
    await page.goto(url, { waitUntil: 'commit' });
    await page.waitForFunction(() => window.__bench.firstRow !== null, null, { timeout: 30000 });
    return await page.evaluate(() => window.__bench.firstRow);
  } finally {
    await (warm ? page.close() : context.close());
  }
}

/** Searches typed into the page: from the last keystroke plus the debounce to the table showing
 * the matching rows; also from the request leaving the page (the server's and the page's share).
 * Then the page's memory, after all of that. */
async function searchInPage(browser, url, queries) {
  const { context, page } = await newPage(browser);
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.__bench.firstRow !== null && window.__bench.wasm, null, { timeout: 30000 });
    await page.waitForFunction(() => document.querySelector('table.users')?.getAttribute('aria-busy') === 'false');
    const box = page.locator('input[name="q"]');
    const samples = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const q of queries) {
        await page.evaluate((q) => {
          const bench = window.__bench;
          bench.inputs = [];
          bench.requests = [];
          bench.sawBusy = false;
          bench.expect = q;
        }, q);
        await box.click({ clickCount: 3 });
        await box.pressSequentially(q, { delay: 20 });
        await page.waitForFunction(() => window.__bench.expect === null, null, { timeout: 30000 });
        const s = await page.evaluate(() => {
          const b = window.__bench;
          const request = b.requests.at(-1);
          return { input: b.inputs.at(-1), request: request?.at, answered: request?.answered, settled: b.settled.at(-1) };
        });
        samples.push({
          q,
          total: s.settled.at - (s.input + DEBOUNCE_MS),
          afterRequest: s.request === undefined ? NaN : s.settled.at - s.request,
          // From the answer's headers to the rows on screen: reading the JSON and rendering.
          afterAnswer: s.answered == null ? NaN : s.settled.at - s.answered,
          debounceFired: s.request === undefined ? NaN : s.request - s.input,
          rows: s.settled.rows,
        });
        await sleep(50);
      }
    }
    const cdp = await context.newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = await cdp.send('Runtime.getHeapUsage');
    const wasmMemory = await page.evaluate(() => window.__bench.wasm.memory.buffer.byteLength);
    return { samples, heap: heap.usedSize, wasmMemory };
  } finally {
    await context.close();
  }
}

// ---- Load on the list endpoint ----

function wrk(url, paths, seconds) {
  const run = spawnSync('wrk', ['-t1', `-c${WRK_CONNECTIONS}`, `-d${seconds}s`, '--timeout', '5s',
    '-s', path.join(import.meta.dirname, 'list-users.lua'), url], {
    encoding: 'utf8',
    env: { ...process.env, KEYDESK_BENCH_PATHS: paths.join('\n') },
  });
  const line = (run.stdout || '').split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (!line) throw new Error(`wrk gave no figures: ${run.stderr}${run.stdout}`);
  const figures = JSON.parse(line.slice('WRK_JSON '.length));
  return { ...figures, rps: figures.requests / (figures.duration_us / 1e6) };
}

// ---- One directory size ----

async function measureSize(browser, users, work) {
  const dataDir = path.join(work, `users-${users}`);
  log(`${users} users: generating`);
  const generateMs = generate(dataDir, users);
  const setFloor = distWithFloor(path.join(work, `dist-${users}`));
  const server = await startServer(dataDir, path.join(work, `dist-${users}`));
  try {
    const first = await getJson(`${server.url}${USERS_PATH}?max_page_size=${PAGE_ROWS}`);
    const css = fs.readdirSync(DIST).filter((f) => f.endsWith('.css'));
    setFloor(floorHtml(first.results, css));
    const firstUser = (await getJson(`${server.url}${USERS_PATH}?max_page_size=1&order_by=create_time`)).results[0];
    const queries = [...SEARCHES, firstUser.id, firstUser.id.slice(8, 16).toLowerCase()];

    log(`${users} users: ${LOADS} loads of the page and of the floor, alternating`);
    const page = [];
    const floor = [];
    await firstRowTime(browser, `${server.url}/`); // warm the server's caches, not measured
    for (let i = 0; i < LOADS; i++) {
      floor.push(await firstRowTime(browser, `${server.url}/floor.html`));
      page.push(await firstRowTime(browser, `${server.url}/`));
    }
    const returning = await browser.newContext();
    await returning.addInitScript(instrument);
    const pageWarm = [];
    const floorWarm = [];
    await firstRowTime(browser, `${server.url}/`, returning);
    await firstRowTime(browser, `${server.url}/floor.html`, returning);
    for (let i = 0; i < LOADS; i++) {
      floorWarm.push(await firstRowTime(browser, `${server.url}/floor.html`, returning));
      pageWarm.push(await firstRowTime(browser, `${server.url}/`, returning));
    }
    await returning.close();

    log(`${users} users: ${ROUNDS} rounds of ${queries.length} searches typed into the page`);
    const search = await searchInPage(browser, `${server.url}/`, queries);

    log(`${users} users: wrk, ${WRK_SECONDS} s with q, then ${WRK_SECONDS} s without`);
    const paths = queries.map((q) => `${USERS_PATH}?max_page_size=100&q=${encodeURIComponent(q)}`);
    wrk(server.url, paths, 2); // warm up, not measured
    const load = wrk(server.url, paths, WRK_SECONDS);
    // The same pages without q: what producing and sending 100 users costs on its own.
    const plain = wrk(server.url, [`${USERS_PATH}?max_page_size=100`], WRK_SECONDS);
    const memory = memoryOf(server.pid);
    return { users, generateMs, page, floor, pageWarm, floorWarm, search, load, plain, memory };
  } finally {
    await server.stop();
  }
}

// ---- What attackers cost ----

/** Each attack on a freshly started server over `dataDir`, rate limits off (they would stop the
 * attack before it measures anything). KEYDESK_BENCH_ATTACK_SETTINGS replaces those settings,
 * for a build that does not know them. */
async function measureAttacks(dataDir) {
  const settings = process.env.KEYDESK_BENCH_ATTACK_SETTINGS
    ?? '[rate_limit]\nactions_per_minute = 0\nrecovery_links_per_minute = 0\n';
  const attacks = {};
  for (const [name, attack] of [
    ['accepts', (server, memory) => parallelAccepts(server, USERS_PATH, memory)],
    ['idle', (server, memory) => idleConnections(server, memory)],
  ]) {
    log(`attack: ${name}`);
    const server = await startServer(dataDir, DIST, settings);
    try {
      const memory = () => memoryOf(server.pid);
      attacks[name] = { start: memory().rss, ...(await attack(server, memory)) };
    } finally {
      await server.stop();
    }
  }
  return attacks;
}

// ---- The table ----

function table(rows) {
  const header = ['figure', 'size', 'target', 'measured', 'result'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main() {
  for (const [what, file] of [['the server', SERVER], ['the page', path.join(DIST, 'index.html')]]) {
    if (!fs.existsSync(file)) throw new Error(`${what} is not built (${file}): run scripts/bench`);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'keydesk-bench-'));
  const started = new Date();
  const size = pageSize(DIST);
  // The person's recovery page is its own program (scripts/build).
  const recoverySize = pageSize(path.join(DIST, 'recover'));
  const browser = await launchBrowser();
  const results = [];
  let serving;
  let attacks;
  const onlyAttacks = process.env.KEYDESK_BENCH_ONLY === 'attacks';
  try {
    for (const users of onlyAttacks ? [] : SIZES) {
      results.push(await measureSize(browser, users, work));
    }
    if (onlyAttacks) generate(path.join(work, `users-${SIZES[0]}`), SIZES[0]);
    // How the page is served does not depend on the directory: check it once, on the smallest.
    const server = await startServer(path.join(work, `users-${SIZES[0]}`), DIST);
    try {
      serving = await servingCheck(server.url, DIST, size.files);
    } finally {
      await server.stop();
    }
    attacks = await measureAttacks(path.join(work, `users-${SIZES[0]}`));
  } finally {
    await browser.close();
    fs.rmSync(work, { recursive: true, force: true });
  }

  const pass = (ok) => (ok ? 'pass' : 'MISS');
  const n = (users) => users.toLocaleString('en-US');
  const largest = Math.max(...SIZES);
  const rows = [
    ['page over the wire: wasm + js + css, gzip', '-', '≤ 200 kB', `${kb(size.gzip)} (wasm ${kb(size.wasmGzip)}, js ${kb(size.jsGzip)}, css ${kb(size.cssGzip)})`, pass(size.gzip <= 200_000)],
    ['page over the wire: wasm + js + css, brotli (as served)', '-', '≤ 175 kB', `${kb(size.brotli)} (wasm ${kb(size.wasmBrotli)}); raw ${kb(size.raw)}`, pass(size.brotli <= 175_000)],
    ['recovery page (/recover) over the wire: wasm + js + css, brotli', '-', '≤ 175 kB', `${kb(recoverySize.brotli)} (wasm ${kb(recoverySize.wasmBrotli)})`, pass(recoverySize.brotli <= 175_000)],
    ['served precompressed (br, gzip); hashed assets immutable; index.html no-cache', '-', 'all', serving.length ? serving.join('; ') : 'all', pass(!serving.length)],
  ];
  for (const r of results) {
    const page = median(r.page);
    const floor = median(r.floor);
    const ratio = page / floor;
    rows.push([`navigation to first user row (median of ${r.page.length}) vs floor`, n(r.users), '≤ 2× floor',
      `${ms(page)} vs ${ms(floor)} floor = ${ratio.toFixed(1)}×`, r.users === largest ? pass(ratio <= 2) : (ratio <= 2 ? 'pass' : 'miss')]);
  }
  for (const r of results) {
    const page = median(r.pageWarm);
    const floor = median(r.floorWarm);
    rows.push([`the same, returning admin (page's files cached), median of ${r.pageWarm.length}`, n(r.users), '-',
      `${ms(page)} vs ${ms(floor)} floor = ${(page / floor).toFixed(1)}×`, 'info']);
  }
  for (const r of results) {
    const totals = r.search.samples.map((s) => s.total);
    const after = r.search.samples.map((s) => s.afterRequest);
    const render = r.search.samples.map((s) => s.afterAnswer);
    const fired = r.search.samples.map((s) => s.debounceFired - DEBOUNCE_MS);
    rows.push([`search: keystroke + ${DEBOUNCE_MS} ms debounce → matching rows shown, p95 of ${totals.length}`, n(r.users), '< 50 ms',
      `${ms(quantile(totals, 0.95))} (median ${ms(median(totals))}; request → rows p95 ${ms(quantile(after, 0.95))}, of which answer → rows p95 ${ms(quantile(render, 0.95))}; timer late by median ${ms(median(fired))})`,
      r.users === largest ? pass(quantile(totals, 0.95) < 50) : (quantile(totals, 0.95) < 50 ? 'pass' : 'miss')]);
  }
  for (const r of results) {
    const p99 = r.load.p99_us / 1000;
    const errors = r.load.errors + r.load.non_2xx;
    rows.push([`list users, max_page_size=100, q set (${SEARCHES.length + 2} searches rotating), p99`, n(r.users), '< 10 ms',
      `${ms(p99)} (p50 ${ms(r.load.p50_us / 1000)}; wrk -t1 -c${WRK_CONNECTIONS} ${WRK_SECONDS} s${errors ? `; ${errors} errors` : ''})`,
      r.users === largest ? pass(p99 < 10 && !errors) : (p99 < 10 ? 'pass' : 'miss')]);
  }
  for (const r of results) {
    rows.push(['list users, max_page_size=100, q set: requests/s', n(r.users), '≥ 3,000',
      `${Math.round(r.load.rps).toLocaleString('en-US')} (${mb(r.load.bytes / (r.load.duration_us / 1e6))}/s)`,
      r.users === largest ? pass(r.load.rps >= 3000) : (r.load.rps >= 3000 ? 'pass' : 'miss')]);
  }
  for (const r of results) {
    rows.push(['reference: list users, max_page_size=100, no q: requests/s', n(r.users), '-',
      `${Math.round(r.plain.rps).toLocaleString('en-US')} (p99 ${ms(r.plain.p99_us / 1000)})`, 'info']);
  }
  for (const r of results) {
    rows.push(['server resident memory (VmRSS) after the run', n(r.users), 'report',
      `${mb(r.memory.rss)} (anonymous ${mb(r.memory.anon)} + mapped files ${mb(r.memory.file)}: the database, counted once per pooled connection; proportional ${mb(r.memory.pss)})`, 'info']);
  }
  for (const r of results) {
    rows.push(['page memory after the searches: JS heap used + wasm memory', n(r.users), 'report',
      `${mb(r.search.heap)} JS heap + ${mb(r.search.wasmMemory)} wasm`, 'info']);
  }
  for (const r of results) {
    rows.push(['keydesk-server generate', n(r.users), '-', r.generateMs < 1000 ? ms(r.generateMs) : `${(r.generateMs / 1000).toFixed(1)} s`, 'info']);
  }

  {
    const { accepts, idle } = attacks;
    const within = (attack) => attack.after <= attack.start * 1.2;
    const ok = accepts.statuses.filter((s) => s === 200).length;
    rows.push([`${accepts.count} recovery accepts at once (Argon2id, 19 MiB each): server RSS peak; 30 s after`, n(SIZES[0]),
      '≤ 300 MB; back within 20%',
      `${mb(accepts.peak)}; ${mb(accepts.after)} (start ${mb(accepts.start)}); ${ok} accepted in ${(accepts.tookMs / 1000).toFixed(1)} s`,
      pass(accepts.peak <= 300e6 && within(accepts))]);
    rows.push([`${idle.count.toLocaleString('en-US')} idle connections: server RSS peak; 30 s after`, n(SIZES[0]),
      '≤ 300 MB; back within 20%',
      `${mb(idle.peak)}; ${mb(idle.after)} (start ${mb(idle.start)}); ${idle.refused.toLocaleString('en-US')} refused at once (503), a request meanwhile got ${idle.during}, answered again after ${(idle.againAfterMs / 1000).toFixed(1)} s`,
      pass(idle.peak <= 300e6 && within(idle))]);
  }

  const load = os.loadavg().map((x) => x.toFixed(2)).join(', ');
  const output = [
    `Keydesk benchmark, ${started.toISOString()} (${os.cpus().length} cores; load average at the end ${load})`,
    '',
    table(rows),
    '',
    'Targets are judged at the largest size; the smaller sizes show the growth. The floor is the same server',
    `sending floor.html: the page's first screen (stylesheet, header, the same first ${PAGE_ROWS} rows, same markup) as static HTML.`,
    `Page loads each use a fresh browser context (nothing cached). Search samples: ${SEARCHES.length + 2} searches × ${ROUNDS} rounds, typed with 20 ms between keys.`,
  ].join('\n');
  console.log(output);
  const dir = path.join(ROOT, 'bench-results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  fs.writeFileSync(path.join(dir, `bench-${stamp}.md`), output + '\n');
  fs.writeFileSync(path.join(dir, `bench-${stamp}.json`), JSON.stringify({ started, size, serving, results, attacks }, null, 2));
  console.log(`\nWritten to bench-results/bench-${stamp}.md (and .json, with every sample).`);
}

main().catch((err) => {
  // A benchmark that could not run says why; it still exits 0 (scripts/bench never fails).
  console.error(`benchmark stopped: ${err.stack || err}`);
  process.exitCode = 0;
});
