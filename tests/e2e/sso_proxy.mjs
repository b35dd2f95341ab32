// What the proxy end-to-end tests share: a tiny SSO stub for nginx's `auth_request`, the README's
// deployment snippets as written there, Debian's nginx running one of them, and a browser context
// signed in to the stub.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort, waitUntilHealthy, spawnQuiet, captureLog, watchConsole } from './harness.mjs';

const NGINX = process.env.NGINX || '/usr/sbin/nginx';

// Who the SSO stub says is signed in, by the `who` cookie.
export const PEOPLE = {
  admin: { email: 'amara.okafor@example.com', groups: 'keydesk-admins, all-staff' },
  helpdesk: { email: 'priya.raghunathan@example.com', groups: 'keydesk-helpdesk' },
  colleague: { email: 'jose.alvarez@example.com', groups: 'keydesk-admins' },
};

/** The SSO stub: 200 with the person's email and groups for a known `who` cookie, 401 otherwise. */
export async function startSso() {
  const server = createServer((request, response) => {
    const who = /(?:^|;\s*)who=(\w+)/.exec(request.headers.cookie ?? '')?.[1];
    const person = Object.hasOwn(PEOPLE, who ?? '') ? PEOPLE[who] : undefined;
    response.writeHead(person ? 200 : 401, person ? { 'X-Auth-Email': person.email, 'X-Auth-Groups': person.groups } : {});
    response.end();
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { port: server.address().port, stop: () => server.close() };
}

/** A fenced block of the README's deployment section, as written there: the tests follow it. */
export function fromReadme(language, replacements) {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Deployment behind your SSO proxy'));
  const block = new RegExp('^( *)```' + language + '\n([\\s\\S]*?)^\\1```', 'm').exec(section);
  assert.ok(block, `no ${language} block in the README's deployment section`);
  let text = block[2].replace(new RegExp(`^${block[1]}`, 'gm'), '');
  for (const [from, to] of replacements) {
    assert.ok(text.includes(from), `the README's ${language} block no longer has ${from}`);
    text = text.replaceAll(from, to);
  }
  return text;
}

/**
 * nginx running the server block `server(port)` gives for its port (the README's, with this
 * machine's ports), with its temporary files in a directory of its own.
 */
export async function startNginx(server) {
  const dir = mkdtempSync(join(tmpdir(), 'keydesk-nginx-'));
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
${server(port)}
}
`);
  const child = spawnQuiet(NGINX, ['-p', dir, '-e', 'stderr', '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;']);
  const log = captureLog(child);
  const url = `http://127.0.0.1:${port}`;
  await waitUntilHealthy(url, child, log);
  return {
    url,
    log,
    stop: async () => {
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A page at `url` + `path` in a browser context of its own, signed in to the SSO as `who` (or not at all). */
export async function openAs(browser, url, who, path = '/') {
  const context = await browser.newContext();
  if (who) await context.addCookies([{ name: 'who', value: who, url }]);
  const page = await context.newPage();
  const problems = watchConsole(page);
  const response = await page.goto(url + path);
  return { page, problems, response, close: () => context.close() };
}
