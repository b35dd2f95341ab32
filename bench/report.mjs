// The benchmark's table: one row per figure and size, its target, what was measured and whether
// it met the target. A target is judged at the size it names ("pass"/"MISS"); the other sizes
// show the growth ("pass"/"miss" in lower case, never counted).
import os from 'node:os';
import { kb, mb, median, ms, quantile, seconds } from './common.mjs';

const n = (count) => count.toLocaleString('en-US');
const ratio = (a, b) => `${(a / b).toFixed(2)}×`;

function table(rows) {
  const header = ['figure', 'size', 'target', 'measured', 'result'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Judged at `at` people; a size measured that is not `at` only shows the growth. */
const judge = (users, at, ok) => (users === at ? (ok ? 'pass' : 'MISS') : ok ? 'pass' : 'miss');

function sizeRows({ size, recoverySize, results }) {
  const serving = results[0]?.startup.serving ?? ['not checked'];
  return [
    // Browsers are sent brotli; gzip is for clients without it.
    ['page over the wire: wasm + js + css, gzip', '-', 'report', `${kb(size.gzip)} (wasm ${kb(size.wasmGzip)}, js ${kb(size.jsGzip)}, css ${kb(size.cssGzip)})`, 'info'],
    ['page over the wire: wasm + js + css, brotli (as served)', '-', '≤ 175 kB', `${kb(size.brotli)} (wasm ${kb(size.wasmBrotli)}); raw ${kb(size.raw)}`, judge(0, 0, size.brotli <= 175_000)],
    ['recovery page (/recover) over the wire, brotli', '-', '≤ 175 kB', `${kb(recoverySize.brotli)} (wasm ${kb(recoverySize.wasmBrotli)})`, judge(0, 0, recoverySize.brotli <= 175_000)],
    ['served precompressed (br, gzip); hashed assets immutable; index.html no-cache', '-', 'all', serving.length ? serving.join('; ') : 'all', judge(0, 0, !serving.length)],
  ];
}

function browserRows(results) {
  const rows = [];
  for (const r of results) {
    const floor = median(r.floor);
    const usable = median(r.page.map((p) => p.usable));
    const first = median(r.page.map((p) => p.firstRow));
    const gap = median(r.page.map((p) => p.usable - p.firstRow));
    rows.push([`usable: navigation to a row's action button working (median of ${r.page.length}) vs the floor's first row`, n(r.users), '≤ 3× floor at 100,000',
      `${ms(usable)} vs ${ms(floor)} = ${ratio(usable, floor)}; first row ${ms(first)} (${ratio(first, floor)}); first row → usable ${ms(gap)}`,
      judge(r.users, 100_000, usable <= 3 * floor)]);
  }
  for (const r of results) {
    const floor = median(r.floorWarm);
    const usable = median(r.pageWarm.map((p) => p.usable));
    const first = median(r.pageWarm.map((p) => p.firstRow));
    rows.push([`the same, returning admin (page's files cached), median of ${r.pageWarm.length}`, n(r.users), 'report',
      `usable ${ms(usable)}, first row ${ms(first)} vs ${ms(floor)} floor = ${ratio(usable, floor)}`, 'info']);
  }
  for (const r of results) {
    const page = r.search.samples.map((s) => s.total);
    const floor = r.searchFloor.samples.map((s) => s.total);
    const p95 = quantile(page, 0.95);
    const floorP95 = quantile(floor, 0.95);
    const render = r.search.samples.map((s) => s.afterAnswer);
    const floorRender = r.searchFloor.samples.map((s) => s.afterAnswer);
    rows.push([`search: keystroke + debounce → matching rows, p95 of ${page.length}, page vs search floor`, n(r.users), '≤ 1.5× floor at 100,000',
      `${ms(p95)} vs ${ms(floorP95)} = ${ratio(p95, floorP95)} (medians ${ms(median(page))} vs ${ms(median(floor))}; answer → rows p95 ${ms(quantile(render, 0.95))} vs ${ms(quantile(floorRender, 0.95))})`,
      judge(r.users, 100_000, p95 <= 1.5 * floorP95)]);
  }
  for (const r of results) {
    rows.push(['page memory after the searches: JS heap used + wasm memory', n(r.users), 'report',
      `${mb(r.search.heap)} JS heap + ${mb(r.search.wasmMemory)} wasm`, 'info']);
  }
  return rows;
}

function serverRows(results, searches) {
  const rows = [];
  const M = 1_000_000;
  for (const r of results) {
    const p99 = r.load.p99_us / 1000;
    const errors = r.load.errors + r.load.non_2xx;
    rows.push([`list users, max_page_size=100, q set (${searches} searches rotating): p99; requests/s`, n(r.users), '< 10 ms; ≥ 5,000 at 1,000,000',
      `${ms(p99)}; ${n(Math.round(r.load.rps))}/s (p50 ${ms(r.load.p50_us / 1000)}; wrk -t1 -c${r.load.connections} ${r.load.seconds} s${errors ? `; ${errors} errors` : ''})`,
      judge(r.users, M, p99 < 10 && r.load.rps >= 5000 && !errors)]);
  }
  for (const r of results) {
    rows.push(['reference: list users, max_page_size=100, no q: requests/s', n(r.users), '-',
      `${n(Math.round(r.plain.rps))} (p99 ${ms(r.plain.p99_us / 1000)})`, 'info']);
  }
  for (const r of results) {
    rows.push(['server resident memory (VmRSS) after the run', n(r.users), '≤ 1 GB at 1,000,000',
      `${mb(r.memory.rss)} (anonymous ${mb(r.memory.anon)} + mapped files ${mb(r.memory.file)}; proportional ${mb(r.memory.pss)}); just started and searched once: ${mb(r.startup.memory.rss)}`,
      judge(r.users, M, r.memory.rss <= 1e9)]);
  }
  for (const r of results) {
    rows.push(['start → /healthz answering', n(r.users), '≤ 3 s at 1,000,000', seconds(r.startup.healthyMs), judge(r.users, M, r.startup.healthyMs <= 3000)]);
  }
  for (const r of results) {
    rows.push(['start → first search answered (from the index the server builds as it starts)', n(r.users), '≤ 10 s at 1,000,000', seconds(r.startup.firstSearchMs), judge(r.users, M, r.startup.firstSearchMs <= 10000)]);
  }
  for (const r of results) {
    rows.push(['keydesk-server generate', n(r.users), '≤ 60 s at 1,000,000', seconds(r.generateMs), judge(r.users, M, r.generateMs <= 60000)]);
  }
  return rows;
}

function upstreamRows(u) {
  if (!u) return [['upstream mode', '-', '-', 'not run (KEYDESK_BENCH_UPSTREAM_USERS=0)', 'info']];
  const size = n(u.users);
  const hourly = (3600 / u.idle.refreshIntervalSeconds) * u.readingCalls;
  return [
    [`upstream: start → first list answered (${u.latencyMs} ms added to every call)`, size, '≤ 30 s', `${seconds(u.firstListMs)} (one reading is ${u.readingCalls} calls of ${n(u.pageSize)})`, judge(0, 0, u.firstListMs <= 30000)],
    [`upstream: 1Password calls per change (${u.changes.count} suspends and reactivations)`, size, '≤ 3; no reading caused',
      `${u.changes.perChange.toFixed(2)} (${u.changes.calls} calls; ${u.changes.readings} readings meanwhile)`, judge(0, 0, u.changes.perChange <= 3 && u.changes.readings === 0)],
    [`upstream: calls while idle (refresh_interval ${u.idle.refreshIntervalSeconds} s, ${u.idle.seconds} s watched)`, size, 'one reading per refresh_interval',
      `${u.idle.calls} calls = ${u.idle.readings.toFixed(2)} readings, ${u.idle.expectedReadings} due; ${n(hourly)} calls/hour at this interval${u.idle.otherCalls ? `; ${u.idle.otherCalls} other calls` : ''}`,
      judge(0, 0, Math.abs(u.idle.readings - u.idle.expectedReadings) <= 1 && !u.idle.otherCalls)],
    [`upstream: op runs per reading (op user list: who is in recovery)`, size, '1',
      `${(u.idle.opLists / Math.max(u.idle.readings, 1e-9)).toFixed(2)} (${u.idle.opLists} lists in ${u.idle.readings.toFixed(2)} readings; also ${u.idle.opOther.length ? u.idle.opOther.join(', ') : 'nothing'}; at start ${u.opAtStart.join(', ')})`,
      judge(0, 0, Math.round(u.idle.opLists) === Math.round(u.idle.readings))],
  ];
}

function attackRows(attacks, smallest) {
  const { accepts, idle } = attacks;
  const within = (attack) => attack.after <= attack.start * 1.2;
  const ok = accepts.statuses.filter((s) => s === 200).length;
  return [
    [`${accepts.count} recovery accepts at once (Argon2id, 19 MiB each): server RSS peak; 30 s after`, n(smallest), '≤ 300 MB; back within 20%',
      `${mb(accepts.peak)}; ${mb(accepts.after)} (start ${mb(accepts.start)}); ${ok} accepted in ${seconds(accepts.tookMs)}`,
      judge(0, 0, accepts.peak <= 300e6 && within(accepts))],
    [`${n(idle.count)} idle connections: server RSS peak; 30 s after`, n(smallest), '≤ 300 MB; back within 20%',
      `${mb(idle.peak)}; ${mb(idle.after)} (start ${mb(idle.start)}); ${n(idle.refused)} refused at once (503), a request meanwhile got ${idle.during}, answered again after ${seconds(idle.againAfterMs)}`,
      judge(0, 0, idle.peak <= 300e6 && within(idle))],
  ];
}

/** The whole report, as printed and written to bench-results/. */
export function report({ started, size, recoverySize, results, upstream, attacks, sizes, loads, rounds, debounceMs, pageRows, searches }) {
  const rows = [
    ...sizeRows({ size, recoverySize, results }),
    ...browserRows(results),
    ...serverRows(results, searches),
    ...upstreamRows(upstream),
    ...attackRows(attacks, sizes[0]),
  ];
  const load = os.loadavg().map((x) => x.toFixed(2)).join(', ');
  return [
    `Keydesk benchmark, ${started.toISOString()} (${os.cpus().length} cores; load average at the end ${load})`,
    '',
    table(rows),
    '',
    'Each target is judged at the size it names; the other sizes show the growth. The floor is the same server',
    `sending floor.html: the users page's first screen (stylesheet, header, the same first ${pageRows} rows, same markup) as static HTML;`,
    `the search floor (search-floor.html) does the same fetch after the same ${debounceMs} ms debounce and writes the rows with plain DOM calls.`,
    `Page loads each use a fresh browser context (nothing cached), ${loads} of each. Search samples: ${searches} searches × ${rounds} rounds, typed with 20 ms between keys.`,
  ].join('\n');
}
