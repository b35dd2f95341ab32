// What upstream mode costs 1Password: how many calls Keydesk makes to the Users API at 100,000
// people, where each call is a round trip over the internet and 1Password rate-limits them. A
// generated Keydesk stands in for the cloud (OAuth client credentials, the same Users API);
// between it and the upstream Keydesk, a proxy adds 100 ms to every call and records it. Measured:
// how long the upstream Keydesk takes to answer its first list (it must read the whole
// directory first), how many calls one full reading takes, how many it makes while nobody does
// anything (only the readings every refresh_interval should appear), and what 60 changes cost:
// each should be one call, and none should read the directory again (the answer goes into the
// snapshot at once). Every figure counts calls as the proxy saw them, retries and token grants
// included. Beside the Users API, each reading runs `op user list` (the only source of who is in
// recovery): the `op` stand-in logs every run, and the runs per reading and while idle are
// counted from its log. (The stand-in reads the cloud to answer; how long the real `op` takes is
// not measured here.)
// Used by bench.mjs; on its own: `node bench/upstream.mjs` against KEYDESK_BENCH_SERVER
// (default the release build), with KEYDESK_BENCH_UPSTREAM_USERS people (default 100000).
// The servers are started as every part of the benchmark starts them (common.mjs).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ACCOUNT, ROOT, USERS_PATH, generate, log, sleep, startServer } from './common.mjs';

const LATENCY_MS = 100;
/** The connector's page of a full reading (server/tests/upstream.rs LIST_CALL). */
const PAGE_CALL = '/users?max_page_size=1000';
const REFRESH_S = 20;
/** About three readings at a 20 s interval. */
const IDLE_S = 65;
const CHANGES = 60;
/** A change every 200 ms at most, so the 60 fit well inside one refresh_interval. */
const CHANGE_SPACING_MS = 200;
/** After the last change, long enough for a reading a change would trigger (refresh.rs
 * SETTLE_AFTER_CHANGE, 2 s) to show, short of the next periodic one. */
const TAIL_MS = 3000;
const SECRET = 'bench-secret-for-the-stand-in';
const OP = path.join(ROOT, 'server/tests/fixtures/op');
const OP_PASSWORD = 'bench recovery user password';
const DEV_USER = 'amara.okafor@example.com';
// Changes are made one after another by one admin, and the connector is one client to the cloud:
// neither must be held back by the per-person limits.
const NO_LIMITS = '[rate_limit]\nactions_per_minute = 0\nrecovery_links_per_minute = 0\n';

const isPage = (c) => c.method === 'GET' && c.path.includes(PAGE_CALL);
const isOAuth = (c) => c.path.startsWith('/v1beta1/users/oauth2/');
const sinceSpawn = (server) => Number(process.hrtime.bigint() - server.started) / 1e6;

/** Each run of the `op` stand-in so far: its command's words before the first flag. */
function opRuns(logFile) {
  if (!fs.existsSync(logFile)) return [];
  return fs.readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean).map((line) => {
    const argv = JSON.parse(line).argv;
    const flag = argv.findIndex((a) => a.startsWith('-'));
    return argv.slice(0, Math.min(flag < 0 ? argv.length : flag, 2)).join(' ');
  });
}
const count = (runs, command) => runs.filter((r) => r === command).length;

/** Poll every 50 ms until `url` answers 200: how long since the server was spawned. */
async function firstOk(server, url, timeoutMs) {
  for (;;) {
    const status = await fetch(url).then(async (a) => (await a.arrayBuffer(), a.status), () => 0);
    if (status === 200) return sinceSpawn(server);
    if (sinceSpawn(server) > timeoutMs) throw new Error(`${url}: no list within ${timeoutMs} ms (last ${status})`);
    await sleep(50);
  }
}

/** A proxy to `target` that holds every request 100 ms before sending it on, as the internet
 * between a company and 1Password would, and records each call: method, path and query, when
 * it arrived and when its answer ended. */
async function startProxy(target) {
  const calls = [];
  const agent = new http.Agent({ keepAlive: true });
  const proxy = http.createServer((request, response) => {
    const call = { method: request.method, path: request.url, start: performance.now(), end: null };
    calls.push(call);
    const body = [];
    request.on('data', (chunk) => body.push(chunk));
    request.on('end', async () => {
      await sleep(LATENCY_MS);
      const headers = { ...request.headers, host: target.host };
      const onward = http.request({
        host: target.hostname, port: target.port, method: request.method, path: request.url, headers, agent,
      }, (answer) => {
        call.status = answer.statusCode;
        response.writeHead(answer.statusCode, answer.headers);
        answer.pipe(response);
        answer.on('end', () => { call.end = performance.now(); });
      });
      onward.on('error', () => { call.end = performance.now(); response.destroy(); });
      onward.end(Buffer.concat(body));
    });
  });
  await new Promise((ok) => proxy.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${proxy.address().port}`,
    calls,
    inFlight: () => calls.filter((c) => c.end === null).length,
    stop: () => new Promise((ok) => {
      agent.destroy();
      proxy.closeAllConnections();
      proxy.close(ok);
    }),
  };
}

/** The calls that began within [from, to). */
const within = (calls, from, to) => calls.filter((c) => c.start >= from && c.start < to);

export async function measureUpstream({ users, work }) {
  fs.mkdirSync(work, { recursive: true });
  const dir = fs.mkdtempSync(path.join(work, 'upstream-'));
  const cloudDir = path.join(dir, 'cloud');
  const keydeskDir = path.join(dir, 'keydesk');
  fs.mkdirSync(keydeskDir);
  const running = [];
  try {
    log(`generating a cloud of ${users} people`);
    generate(cloudDir, users);
    const sha256 = crypto.createHash('sha256').update(SECRET).digest('hex');
    const cloud = await startServer(cloudDir, {
      settings: `${NO_LIMITS}\n[oauth]\ntoken_lifetime = "15m"\n\n` +
        `[[oauth.clients]]\nclient_id = "keydesk-upstream"\nsecret_sha256 = "${sha256}"\n`,
    });
    running.push(cloud);
    const proxy = await startProxy(new URL(cloud.url));
    running.push(proxy);

    const secretFile = path.join(keydeskDir, 'client-secret');
    fs.writeFileSync(secretFile, SECRET, { mode: 0o600 });
    // op, signed in by Keydesk with a password file; the stand-in keeps its state in opDir.
    const opDir = path.join(dir, 'op');
    fs.mkdirSync(opDir);
    fs.writeFileSync(path.join(opDir, 'password'), OP_PASSWORD);
    fs.writeFileSync(path.join(keydeskDir, 'op-password'), OP_PASSWORD, { mode: 0o600 });
    const opLog = path.join(opDir, 'op.log');
    const opSection = `[directory.upstream.op]\npath = "${OP}"\npass_env = ["PATH"]\naccount = "keydesk"\n` +
      `password_file = "${path.join(keydeskDir, 'op-password')}"\ntimeout = "600s"\n` +
      `env = { OP_STANDIN_STATE = "${opDir}", OP_STANDIN_LOG = "${opLog}", ` +
      `OP_STANDIN_KEYDESK = "${cloud.url}", OP_STANDIN_ACCOUNT = "${ACCOUNT}" }\n`;
    // A page of 1000 takes the cloud a while at this size, on top of the 100 ms: a generous
    // request_timeout, so that a slow page is measured rather than retried.
    // /healthz answers before the first reading: the list is what waits for it.
    const keydesk = await startServer(keydeskDir, {
      settings: `${NO_LIMITS}\n[directory]\nbackend = "upstream"\n\n` +
        `[directory.upstream]\nbase_url = "${proxy.url}"\nallow_custom_base_url = true\n` +
        `account_id = "${ACCOUNT}"\nclient_id = "keydesk-upstream"\nclient_secret_file = "${secretFile}"\n` +
        `refresh_interval = "${REFRESH_S}s"\nrequest_timeout = "60s"\n\n${opSection}`,
    });
    running.push(keydesk);
    const firstListMs = await firstOk(keydesk, `${keydesk.url}${USERS_PATH}?max_page_size=50`, 600000);
    const afterFirst = performance.now();
    const startup = proxy.calls.filter(isPage);
    const readingCalls = startup.length;
    const readingMs = Math.max(...startup.map((c) => c.end)) - startup[0].start;
    log(`first list after ${firstListMs.toFixed(0)} ms; a reading: ${readingCalls} calls, ${readingMs.toFixed(0)} ms`);
    const opAtFirst = opRuns(opLog);

    log(`idle for ${IDLE_S} s (refresh_interval ${REFRESH_S} s)`);
    await sleep(IDLE_S * 1000);
    const idleWindow = within(proxy.calls, afterFirst, performance.now());
    const idleCalls = idleWindow.length;
    // refresh_interval runs from the end of one reading (its pages, then writing them into the
    // snapshot) to the start of the next: as the start-up reading took, so does each.
    const cycleS = REFRESH_S + (afterFirst - startup[0].start) / 1000;
    const opIdle = opRuns(opLog).slice(opAtFirst.length);
    const idle = {
      seconds: IDLE_S, refreshInterval: `${REFRESH_S}s`, refreshIntervalSeconds: REFRESH_S, calls: idleCalls,
      readings: idleCalls / readingCalls, expectedReadings: Number((IDLE_S / cycleS).toFixed(2)),
      otherCalls: idleWindow.filter((c) => !isPage(c)).length,
      opRuns: opIdle.length, opLists: count(opIdle, 'user list'), opOther: opIdle.filter((r) => r !== 'user list'),
    };
    log(`idle: ${idleCalls} calls, ${idle.readings.toFixed(2)} readings, ${idle.expectedReadings} due; op: ${opIdle.join(', ')}`);

    // Whom to change: active plain members, not the development admin the requests act as.
    // The cloud knows roles; neither of 1Password's sources tells Keydesk.
    const listed = await (await fetch(`${cloud.url}${USERS_PATH}?state=ACTIVE&max_page_size=100`)).json();
    const people = listed.results.filter((u) => u.email !== DEV_USER && u.role === 'MEMBER' && u.type === 'MEMBER').slice(0, CHANGES / 2);
    if (people.length < CHANGES / 2) throw new Error(`only ${people.length} active members to change`);
    // Start just as the next reading is in the snapshot, so that the one after falls after the
    // window: any reading within it is one the changes caused. Not as soon as its last page is
    // answered: writing 100,000 rows holds the snapshot for seconds, and a change then fails.
    const snapshotTime = async () =>
      (await (await fetch(`${keydesk.url}${USERS_PATH}?max_page_size=1`)).json()).snapshot_time;
    const before = await snapshotTime();
    while ((await snapshotTime()) === before) await sleep(50);
    log(`${CHANGES} changes, one every ${CHANGE_SPACING_MS} ms at most`);
    const from = performance.now();
    const took = [];
    for (let i = 0; i < CHANGES; i++) {
      await sleep(from + i * CHANGE_SPACING_MS - performance.now());
      const [person, method] = [people[i >> 1], i % 2 ? 'reactivate' : 'suspend'];
      // As the page sends it: same-origin, JSON, with the admin's reason.
      const sent = performance.now();
      const answer = await fetch(`${keydesk.url}${USERS_PATH}/${person.id}:${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: keydesk.url, 'sec-fetch-site': 'same-origin' },
        body: JSON.stringify({ reason: `benchmark: ${method}` }),
      });
      const body = await answer.text();
      if (!answer.ok) throw new Error(`:${method} ${person.id}: ${answer.status} ${body}`);
      took.push(performance.now() - sent);
    }
    const changesDone = performance.now();
    await sleep(TAIL_MS);
    const to = performance.now();
    if ((to - from) / 1000 >= REFRESH_S) log(`the changes took ${((to - from) / 1000).toFixed(1)} s, more than refresh_interval`);
    const inWindow = within(proxy.calls, from, to);
    const pages = inWindow.filter(isPage).length;
    const changeCalls = inWindow.length - pages;
    const changes = {
      count: CHANGES, seconds: Number(((to - from) / 1000).toFixed(1)),
      changesMs: Math.round(changesDone - from), medianChangeMs: Math.round(took.sort((a, b) => a - b)[took.length >> 1]),
      calls: changeCalls,
      readings: pages / readingCalls, perChange: changeCalls / CHANGES,
    };
    const other = inWindow.filter((c) => !isPage(c) && !/:(suspend|reactivate)$/.test(c.path));
    const readAt = inWindow.filter((c) => isPage(c) && !c.path.includes('page_token='));
    if (readAt.length) log(`readings began ${readAt.map((c) => `${((c.start - from) / 1000).toFixed(1)} s`).join(', ')} into the window`);
    if (other.length) log(`calls in the window besides the changes: ${other.map((c) => `${c.method} ${c.path}`).join(', ')}`);
    log(`changes: ${changeCalls} calls, ${changes.readings.toFixed(2)} readings`);

    // Its token is revoked as it stops: that call is counted too.
    await keydesk.stop();
    const oauth = proxy.calls.filter(isOAuth);
    // A refused or busy answer is retried by the connector, and each try counted above.
    const refused = proxy.calls.filter((c) => !(c.status >= 200 && c.status < 300));
    if (refused.length) log(`answers not 2xx: ${refused.map((c) => `${c.status} ${c.method} ${c.path}`).join(', ')}`);
    return {
      users, latencyMs: LATENCY_MS, pageSize: 1000, firstListMs: Math.round(firstListMs),
      readingCalls, readingMs: Math.round(readingMs), idle, changes,
      opAtStart: opAtFirst,
      tokenCalls: oauth.filter((c) => c.path.endsWith('/token')).length,
      revokeCalls: oauth.filter((c) => c.path.endsWith('/revoke')).length,
      totalCalls: proxy.calls.length,
    };
  } finally {
    for (const it of running.reverse()) await it.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'keydesk-bench-upstream-'));
  try {
    const users = Number(process.env.KEYDESK_BENCH_UPSTREAM_USERS || 100000);
    console.log(JSON.stringify(await measureUpstream({ users, work }), null, 2));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
