// The page in headless Chromium: loads timed to the first row and to the moment a row's action
// button works, and searches typed into a page timed to the matching rows on screen. The same
// instrument runs in Keydesk's page and in the floors (floors.mjs).
import { sleep } from './common.mjs';

/** Runs before anything in every page: notes when the first user row enters the document, when
 * the page became usable (the app has taken over the server's first rows, `#boot`, and shows
 * rows with action buttons of its own), when the wasm app started (and its memory), each input
 * event, each search request, and each time the table settles. Times are performance.now():
 * milliseconds since navigation started. */
function instrument() {
  const bench = (window.__bench = { firstRow: null, usable: null, inputs: [], requests: [], settled: [], wasm: null });
  const fold = (text) =>
    text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase()
      .replace(/ł/g, 'l').replace(/ø/g, 'o').replace(/[đð]/g, 'd').replace(/ß/g, 'ss');
  const appRow = 'tbody tr[data-user-id] button.row-action';
  new MutationObserver(() => {
    if (bench.firstRow === null && document.querySelector('tbody tr[data-user-id]')) {
      bench.firstRow = performance.now();
    }
    if (bench.usable === null && bench.wasm && !document.getElementById('boot') && document.querySelector(appRow)) {
      bench.usable = performance.now();
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
      [tr.querySelector('td.person a')?.textContent || '', tr.querySelector('.email')?.textContent || '',
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

/** A context for a returning admin: the page's hashed files get cached in it. */
export async function returningAdmin(browser) {
  const context = await browser.newContext();
  await context.addInitScript(instrument);
  return context;
}

/** Navigation to the first user row, in a fresh browser context (nothing cached), or in `warm`,
 * one that has loaded the page before. With `usable`, also to the moment the app has taken over
 * (Keydesk's page only); with `proveUsable`, then clicks the first row's first action and waits
 * for its dialog, so that "usable" is known to mean it. */
export async function loadTimes(browser, url, { warm, usable = false, proveUsable = false } = {}) {
  const { context, page } = warm ? { context: warm, page: await warm.newPage() } : await newPage(browser);
  try {
    await page.goto(url, { waitUntil: 'commit' });
    const until = usable ? () => window.__bench.usable !== null : () => window.__bench.firstRow !== null;
    await page.waitForFunction(until, null, { timeout: 60000 });
    const times = await page.evaluate(() => ({ firstRow: window.__bench.firstRow, usable: window.__bench.usable }));
    if (proveUsable) {
      await page.locator('tbody tr[data-user-id] button.row-action').first().click();
      await page.waitForSelector('dialog[open]', { timeout: 10000 });
    }
    return times;
  } finally {
    await (warm ? page.close() : context.close());
  }
}

/** Searches typed into the page at `url`: from the last keystroke plus the debounce to the table
 * showing the matching rows; also from the request leaving the page (the server's and the
 * page's share). For Keydesk's page (`app`), then the page's memory, after all of that. */
export async function searchInPage(browser, url, queries, { rounds, debounceMs, app = true }) {
  const { context, page } = await newPage(browser);
  try {
    await page.goto(url);
    const ready = app
      ? () => window.__bench.firstRow !== null && window.__bench.wasm
      : () => window.__bench.firstRow !== null;
    await page.waitForFunction(ready, null, { timeout: 60000 });
    await page.waitForFunction(() => document.querySelector('table.users')?.getAttribute('aria-busy') === 'false');
    const box = page.locator('input[name="q"]');
    const samples = [];
    for (let round = 0; round < rounds; round++) {
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
        await page.waitForFunction(() => window.__bench.expect === null, null, { timeout: 30000 }).catch(async (err) => {
          const seen = await page.evaluate(() => ({
            busy: document.querySelector('table.users')?.getAttribute('aria-busy'),
            sawBusy: window.__bench.sawBusy,
            rows: [...document.querySelectorAll('tbody tr[data-user-id] td.person a')].slice(0, 3).map((td) => td.textContent),
            main: document.querySelector('main')?.innerText.slice(0, 200),
          }));
          throw new Error(`the search for ${JSON.stringify(q)} at ${url} never settled: ${JSON.stringify(seen)}`, { cause: err });
        });
        const s = await page.evaluate(() => {
          const b = window.__bench;
          const request = b.requests.at(-1);
          return { input: b.inputs.at(-1), request: request?.at, answered: request?.answered, settled: b.settled.at(-1) };
        });
        samples.push({
          q,
          total: s.settled.at - (s.input + debounceMs),
          afterRequest: s.request === undefined ? NaN : s.settled.at - s.request,
          // From the answer's headers to the rows on screen: reading the JSON and rendering.
          afterAnswer: s.answered == null ? NaN : s.settled.at - s.answered,
          debounceFired: s.request === undefined ? NaN : s.request - s.input,
          rows: s.settled.rows,
        });
        await sleep(50);
      }
    }
    if (!app) return { samples };
    const cdp = await context.newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = await cdp.send('Runtime.getHeapUsage');
    const wasmMemory = await page.evaluate(() => window.__bench.wasm.memory.buffer.byteLength);
    return { samples, heap: heap.usedSize, wasmMemory };
  } finally {
    await context.close();
  }
}
