// Keydesk's benchmark: every figure of the performance targets, side by side in one run, at
// 1,000, 10,000, 100,000 and 1,000,000 generated users, so the growth shows; then upstream mode
// against the stand-in cloud, and what attackers cost. scripts/bench builds first and runs this;
// it prints one table (report.mjs) and writes it to bench-results/. It is a benchmark, not a
// test: it never fails because a figure misses its target.
//
// Settings (environment): KEYDESK_BENCH_SIZES (default 1000,10000,100000,1000000),
// KEYDESK_BENCH_LOADS (page loads per figure, default 15), KEYDESK_BENCH_ROUNDS (rounds of
// searches typed, default 3), KEYDESK_BENCH_WRK_SECONDS (default 10),
// KEYDESK_BENCH_UPSTREAM_USERS (default 100000; 0 skips upstream mode), KEYDESK_BENCH_SERVER and
// KEYDESK_BENCH_DIST (default: the release build and dist/), KEYDESK_BENCH_ONLY=attacks (only
// the memory under attack, on the smallest size).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser } from '../tests/e2e/harness.mjs';
import { loadTimes, returningAdmin, searchInPage } from './browser.mjs';
import {
  DIST, ROOT, SERVER, USERS_PATH, firstSearchMs, generate, getJson, log, memoryOf, startServer, wrk,
} from './common.mjs';
import { bootHtml, distWithFloors } from './floors.mjs';
import { report } from './report.mjs';
import { idleConnections, parallelAccepts } from './resources.mjs';
import { pageSize, servingCheck } from './serving.mjs';
import { measureUpstream } from './upstream.mjs';

const SIZES = (process.env.KEYDESK_BENCH_SIZES || '1000,10000,100000,1000000').split(',').map(Number);
const LOADS = Number(process.env.KEYDESK_BENCH_LOADS || 15);
const ROUNDS = Number(process.env.KEYDESK_BENCH_ROUNDS || 3);
const WRK_SECONDS = Number(process.env.KEYDESK_BENCH_WRK_SECONDS || 10);
const UPSTREAM_USERS = Number(process.env.KEYDESK_BENCH_UPSTREAM_USERS ?? 100000);
/** The page's debounce (src/routes/users.rs SEARCH_DEBOUNCE): the search starts this long after
 * the last keystroke, by design. The search floor waits as long. */
const DEBOUNCE_MS = 250;
/** The page's first request (src/routes/users.rs PAGE_SIZE). */
const PAGE_ROWS = 50;
/** What a helpdesk types, against the generated people (seed.rs): first and last names, with
 * and without accents, a whole name, email fragments, a number, and no match. The first user's
 * ID, whole and in part, is added at run time. */
export const SEARCHES = [
  'zoltan', 'Inès', 'malik', 'bergström', 'wojcik', 'tanaka', 'ada abara', 'kai.okoye',
  'yara zhou 6', 'gomez.4', '12345', 'nobody-here',
];

/** One directory size: generate it, time the server's start, then the page against its floors
 * in the browser, then load on the list endpoint. */
async function measureSize(browser, users, work, files) {
  const dataDir = path.join(work, `users-${users}`);
  log(`${users} users: generating`);
  const generateMs = generate(dataDir, users);

  // A first start, as an operator's: the page inside the binary, nothing read yet.
  const cold = await startServer(dataDir);
  let startup;
  let boot;
  try {
    startup = { healthyMs: cold.healthyMs, firstSearchMs: await firstSearchMs(cold, 'malik') };
    startup.memory = memoryOf(cold.pid);
    // How the page is served does not depend on the directory: checked once, on the first.
    if (files) startup.serving = await servingCheck(cold.url, DIST, files);
    boot = bootHtml(await (await fetch(`${cold.url}/`)).text());
  } finally {
    await cold.stop();
  }
  const dist = distWithFloors(path.join(work, `dist-${users}`), boot, { debounceMs: DEBOUNCE_MS, rows: PAGE_ROWS });

  const server = await startServer(dataDir, { dist });
  try {
    const firstUser = (await getJson(`${server.url}${USERS_PATH}?max_page_size=1&order_by=create_time`)).results[0];
    const queries = [...SEARCHES, firstUser.id, firstUser.id.slice(8, 16).toLowerCase()];

    log(`${users} users: ${LOADS} loads of the page and of the floor, alternating`);
    const page = [];
    const floor = [];
    // Warms the server's caches, not measured; proves that "usable" means a working button.
    await loadTimes(browser, `${server.url}/`, { usable: true, proveUsable: true });
    for (let i = 0; i < LOADS; i++) {
      floor.push((await loadTimes(browser, `${server.url}/floor.html`)).firstRow);
      page.push(await loadTimes(browser, `${server.url}/`, { usable: true }));
    }
    const returning = await returningAdmin(browser);
    const pageWarm = [];
    const floorWarm = [];
    await loadTimes(browser, `${server.url}/`, { warm: returning, usable: true });
    await loadTimes(browser, `${server.url}/floor.html`, { warm: returning });
    for (let i = 0; i < LOADS; i++) {
      floorWarm.push((await loadTimes(browser, `${server.url}/floor.html`, { warm: returning })).firstRow);
      pageWarm.push(await loadTimes(browser, `${server.url}/`, { warm: returning, usable: true }));
    }
    await returning.close();

    log(`${users} users: ${ROUNDS} rounds of ${queries.length} searches typed into the page and into the search floor`);
    const options = { rounds: ROUNDS, debounceMs: DEBOUNCE_MS };
    const search = await searchInPage(browser, `${server.url}/`, queries, options);
    const searchFloor = await searchInPage(browser, `${server.url}/search-floor.html`, queries, { ...options, app: false });

    log(`${users} users: wrk, ${WRK_SECONDS} s with q, then ${WRK_SECONDS} s without`);
    const paths = queries.map((q) => `${USERS_PATH}?max_page_size=100&q=${encodeURIComponent(q)}`);
    wrk(server.url, paths, 2); // warm up, not measured
    const load = wrk(server.url, paths, WRK_SECONDS);
    // The same pages without q: what producing and sending 100 users costs on its own.
    const plain = wrk(server.url, [`${USERS_PATH}?max_page_size=100`], WRK_SECONDS);
    const memory = memoryOf(server.pid);
    return { users, generateMs, startup, page, floor, pageWarm, floorWarm, search, searchFloor, load, plain, memory };
  } finally {
    await server.stop();
  }
}

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
    const server = await startServer(dataDir, { settings });
    try {
      const memory = () => memoryOf(server.pid);
      attacks[name] = { start: memory().rss, ...(await attack(server, memory)) };
    } finally {
      await server.stop();
    }
  }
  return attacks;
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
  let upstream;
  let attacks;
  const onlyAttacks = process.env.KEYDESK_BENCH_ONLY === 'attacks';
  try {
    for (const users of onlyAttacks ? [] : SIZES) {
      results.push(await measureSize(browser, users, work, results.length ? null : size.files));
      // Each size's files are large at a million; only the smallest is used again.
      if (users !== SIZES[0]) fs.rmSync(path.join(work, `users-${users}`), { recursive: true, force: true });
    }
    if (!onlyAttacks && UPSTREAM_USERS > 0) {
      log(`upstream mode: ${UPSTREAM_USERS} people in the stand-in cloud, 100 ms per call`);
      upstream = await measureUpstream({ users: UPSTREAM_USERS, work: path.join(work, 'upstream') });
    }
    if (onlyAttacks) generate(path.join(work, `users-${SIZES[0]}`), SIZES[0]);
    attacks = await measureAttacks(path.join(work, `users-${SIZES[0]}`));
  } finally {
    await browser.close();
    fs.rmSync(work, { recursive: true, force: true });
  }

  const dir = path.join(ROOT, 'bench-results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  // Every sample first: should the report fail, nothing measured is lost.
  fs.writeFileSync(path.join(dir, `bench-${stamp}.json`), JSON.stringify({ started, size, recoverySize, results, upstream, attacks }, null, 2));
  const output = report({
    started, size, recoverySize, results, upstream, attacks, sizes: SIZES, loads: LOADS, rounds: ROUNDS,
    debounceMs: DEBOUNCE_MS, pageRows: PAGE_ROWS, searches: SEARCHES.length + 2,
  });
  console.log(output);
  fs.writeFileSync(path.join(dir, `bench-${stamp}.md`), output + '\n');
  console.log(`\nWritten to bench-results/bench-${stamp}.md (and .json, with every sample).`);
}

main().catch((err) => {
  // A benchmark that could not run says why; it still exits 0 (scripts/bench never fails).
  console.error(`benchmark stopped: ${err.stack || err}`);
  process.exitCode = 0;
});
