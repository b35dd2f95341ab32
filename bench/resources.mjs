// What attackers cost the server: its resident memory while 50 people accept recovery links at
// once (each Argon2id hash takes 19 MiB), and while 10,000 connections sit idle; then whether it
// gives the memory back within 30 s, and whether someone else is still answered meanwhile.
// Used by bench.mjs; on its own: `node bench/resources.mjs` against KEYDESK_BENCH_SERVER.
import net from 'node:net';

const sleep = (millis) => new Promise((ok) => setTimeout(ok, millis));

/** Sample `memory()` every 50 ms until `work` settles; the largest resident figure seen. */
async function peakDuring(memory, work) {
  let peak = memory().rss;
  let done = false;
  const sampling = (async () => {
    while (!done) {
      peak = Math.max(peak, memory().rss);
      await sleep(50);
    }
  })();
  try {
    return { result: await work, peak };
  } finally {
    done = true;
    await sampling;
  }
}

/** Begin recovery for `count` active people (ten at a time) and read their links from the outbox. */
async function recoveryLinks(url, usersPath, count) {
  const page = await (await fetch(`${url}${usersPath}?state=ACTIVE&max_page_size=${count + 5}`)).json();
  const people = page.results.filter((u) => u.email !== 'amara.okafor@example.com').slice(0, count);
  for (let i = 0; i < people.length; i += 10) {
    const batch = people.slice(i, i + 10).map((u) => u.id);
    const answer = await fetch(`${url}${usersPath}:beginRecovery`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ users: batch }),
    });
    if (!answer.ok) throw new Error(`beginRecovery: ${answer.status} ${await answer.text()}`);
  }
  const outbox = await (await fetch(`${url}/api/outbox`)).json();
  return people.map((person) => {
    const message = outbox.messages.find((m) => m.to === person.email);
    return { email: person.email, token: message.link.split('#')[1] };
  });
}

/** 50 accepts at once: peak memory, how long the last took, and memory 30 s later. */
export async function parallelAccepts(server, usersPath, memory, count = 50) {
  const links = await recoveryLinks(server.url, usersPath, count);
  const before = memory().rss;
  const started = performance.now();
  const { result: statuses, peak } = await peakDuring(memory, Promise.all(links.map(async (link) => {
    const answer = await fetch(`${server.url}/api/recovery:accept`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: link.token, email: link.email, password: 'a long new password 123' }),
    });
    await answer.text();
    return answer.status;
  })));
  const tookMs = performance.now() - started;
  await sleep(30_000);
  return { count, before, peak, after: memory().rss, tookMs, statuses };
}

/** `count` connections opened at once that say nothing, and kept open: how many were refused
 * at once, what a request meanwhile gets, and how long until requests are answered again. */
export async function idleConnections(server, memory, count = 10_000) {
  const before = memory().rss;
  const sockets = [];
  let refused = 0;
  const flood = (async () => {
    for (let i = 0; i < count; i++) {
      const socket = net.connect({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
      socket.on('error', () => {});
      socket.on('data', (data) => { if (String(data).startsWith('HTTP/1.1 503')) refused++; });
      sockets.push(socket);
      if (i % 500 === 499) await sleep(10);
    }
    await sleep(1000);
    const started = performance.now();
    const during = await fetch(`${server.url}/healthz`).then((a) => a.status, () => 'no answer');
    // Until the server has cut the idle ones off and answers again.
    for (;;) {
      const status = await fetch(`${server.url}/healthz`).then((a) => a.status, () => 0);
      if (status === 200) break;
      await sleep(200);
    }
    return { during, againAfterMs: performance.now() - started };
  })();
  const { peak, result } = await peakDuring(memory, flood);
  for (const socket of sockets) socket.destroy();
  await sleep(30_000);
  return { count, before, peak, after: memory().rss, refused, ...result };
}
