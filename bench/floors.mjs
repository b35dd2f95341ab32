// The floors Keydesk's page is measured against, served by the same server from a copy of dist:
// `floor.html`, the users page's first screen as static HTML (no page can show its first row
// sooner), and `search-floor.html`, the least a page can do to search: the same request, and the
// same 50 rows written with plain DOM calls, with the page's own debounce.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { DIST, USERS_PATH } from './common.mjs';

const STATE_LABEL = {
  ACTIVE: ['Active', 'ok'], SUSPENDED: ['Suspended', 'stop'], PENDING: ['Pending', 'waiting'],
  RECOVERY_STARTED: ['Recovery started', 'attention'], RECOVERY_ACCEPTED: ['Recovery accepted', 'attention'],
  TRANSFER_PENDING: ['Transfer pending', 'waiting'],
};
const ACTIONS = { ACTIVE: 'Suspend', SUSPENDED: 'Reactivate', RECOVERY_STARTED: 'Resend email', RECOVERY_ACCEPTED: 'Complete recovery' };

/** The server's first screen out of the page it sends to a signed-in person (`#boot`: header,
 * heading and the users table with its first rows, server/src/page/first_rows.rs). */
export function bootHtml(page) {
  const start = page.indexOf('<div id="boot">');
  const end = page.indexOf('</main></div>', start);
  if (start < 0 || end < 0) throw new Error('the page came without its first rows (#boot)');
  return page.slice(start, end + '</main></div>'.length);
}

/** A page of the stylesheet and `body`, with `script` (a file) at its end. */
function floorPage(css, body, script = '') {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>Keydesk</title>${css.map((c) => `<link rel="stylesheet" href="/${c}">`).join('')}</head>
<body>${body}${script}</body></html>
`;
}

/** The search floor's whole program (a file of its own: the server's CSP admits no inline
 * script but the page's loader): debounce, one fetch, the rows built with DOM calls. */
function searchScript(debounceMs, rows) {
  const program = `
const STATE_LABEL = ${JSON.stringify(STATE_LABEL)};
const ACTIONS = ${JSON.stringify(ACTIONS)};
const section = document.querySelector('.users-page');
const wrap = document.querySelector('.table-scroll');
const table = wrap.querySelector('table');
const tbody = table.querySelector('tbody');
const empty = Object.assign(document.createElement('p'), { className: 'panel empty', textContent: 'No users match.' });
const cell = (tr, text, className) => {
  const td = tr.insertCell();
  if (className) td.className = className;
  if (text !== undefined) td.textContent = text;
  return td;
};
let timer;
let asked = 0;
document.querySelector('input[name=q]').addEventListener('input', (event) => {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    const mine = ++asked;
    // Loading shows the table, busy, as the page does (also after "no users match").
    empty.remove();
    if (!wrap.isConnected) section.appendChild(wrap);
    table.setAttribute('aria-busy', 'true');
    const q = encodeURIComponent(event.target.value.trim());
    const answer = await (await fetch('${USERS_PATH}?max_page_size=${rows}&q=' + q)).json();
    if (mine !== asked) return;
    const body = document.createElement('tbody');
    for (const u of answer.results) {
      const tr = body.insertRow();
      tr.dataset.userId = u.id;
      cell(tr, undefined, 'select');
      const person = cell(tr, undefined, 'person');
      const link = person.appendChild(document.createElement('a'));
      Object.assign(link, { href: '/users/' + u.id, textContent: u.display_name });
      const email = person.appendChild(document.createElement('span'));
      Object.assign(email, { className: 'email', textContent: u.email });
      cell(tr, u.type === 'GUEST' ? 'Guest' : u.role === 'OWNER' ? 'Owner' : 'Member', 'role');
      const [label, tone] = STATE_LABEL[u.state] || [u.state, 'neutral'];
      const badge = cell(tr, undefined, 'state').appendChild(document.createElement('span'));
      Object.assign(badge, { className: 'badge badge-' + tone, textContent: label });
      badge.dataset.state = u.state;
      const time = cell(tr, undefined, 'date').appendChild(document.createElement('time'));
      Object.assign(time, { dateTime: u.create_time, textContent: u.create_time.slice(0, 10) });
      const action = ACTIONS[u.state];
      if (action) {
        const button = cell(tr, undefined, 'actions').appendChild(document.createElement('button'));
        Object.assign(button, { type: 'button', className: 'row-action', textContent: action });
      } else {
        cell(tr, undefined, 'actions');
      }
    }
    table.querySelector('tbody').replaceWith(body);
    table.setAttribute('aria-busy', 'false');
    if (!answer.results.length) {
      wrap.remove();
      section.appendChild(empty);
    }
  }, ${debounceMs});
});`;
  return program;
}

function writeCompressed(dir, name, html) {
  fs.writeFileSync(path.join(dir, name), html);
  fs.writeFileSync(path.join(dir, `${name}.gz`), zlib.gzipSync(html, { level: 9 }));
  fs.writeFileSync(path.join(dir, `${name}.br`), zlib.brotliCompressSync(html, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 },
  }));
}

/** A copy of dist in `dir` with both floors beside the page, precompressed like the page's own
 * files: `boot` is the server's first screen (`bootHtml`). */
export function distWithFloors(dir, boot, { debounceMs, rows }) {
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(DIST, dir, { recursive: true });
  const css = fs.readdirSync(DIST).filter((f) => f.endsWith('.css'));
  writeCompressed(dir, 'floor.html', floorPage(css, boot));
  const searchable = boot.replace('<h1>Users</h1>', '<h1>Users</h1><input name="q" type="search" aria-label="Search users">');
  writeCompressed(dir, 'search-floor.js', searchScript(debounceMs, rows));
  writeCompressed(dir, 'search-floor.html', floorPage(css, searchable, '<script type="module" src="/search-floor.js"></script>'));
  return dir;
}
