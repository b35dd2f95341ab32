// The floors Keydesk's page is measured against, served by the same server from a copy of dist:
// `floor.html`, the users page's first screen as static HTML (no page can show its first row
// sooner), and `search-floor.html`, the least a page can do to search: the same request, and the
// same 50 rows written with plain DOM calls, with the page's own debounce.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { DIST, USERS_PATH } from './common.mjs';

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const STATE_LABEL = {
  ACTIVE: ['Active', 'ok'], SUSPENDED: ['Suspended', 'stop'], PENDING: ['Pending', 'waiting'],
  RECOVERY_STARTED: ['Recovery started', 'attention'], RECOVERY_ACCEPTED: ['Recovery accepted', 'attention'],
  TRANSFER_PENDING: ['Transfer pending', 'waiting'],
};
const ACTIONS = { ACTIVE: ['Suspend', 'Begin recovery'], SUSPENDED: ['Reactivate'], RECOVERY_STARTED: ['Resend email'], RECOVERY_ACCEPTED: ['Complete recovery'] };

/** One row, with the markup the page renders. */
function rowHtml(u) {
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
}

/** The users page's frame around `tbody`, with `script` at the end of the body. */
function usersPage(css, tbody, script = '') {
  const head = ['Name', 'Email', 'State', 'Type', 'Created']
    .map((h) => `<th scope="col"><button type="button" class="sort">${h}</button></th>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>Keydesk</title>${css.map((c) => `<link rel="stylesheet" href="/${c}">`).join('')}</head>
<body><header class="top"><a class="brand" href="/">Keydesk</a><nav aria-label="Keydesk"><a href="/">Users</a></nav></header>
<main id="main"><section class="users-page"><h1 id="users-heading">Users</h1>
<input name="q" type="search" aria-label="Search">
<div class="table-scroll"><table class="users" aria-busy="false"><thead><tr><th scope="col" class="select"></th>${head}<th scope="col"></th></tr></thead>
<tbody>
${tbody}
</tbody></table></div></section></main>${script}</body></html>
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
      const box = cell(tr, undefined, 'select').appendChild(document.createElement('input'));
      box.type = 'checkbox';
      cell(tr, u.display_name, 'name');
      cell(tr, u.email, 'email');
      const [label, tone] = STATE_LABEL[u.state] || [u.state, 'neutral'];
      const badge = cell(tr).appendChild(document.createElement('span'));
      Object.assign(badge, { className: 'badge badge-' + tone, textContent: label });
      badge.dataset.state = u.state;
      cell(tr, u.type === 'GUEST' ? 'Guest' : 'Member');
      cell(tr, u.create_time.slice(0, 10));
      const actions = cell(tr, undefined, 'actions');
      for (const a of ACTIONS[u.state] || []) {
        const button = actions.appendChild(document.createElement('button'));
        Object.assign(button, { type: 'button', className: 'row-action', textContent: a });
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
 * files: `firstRows` are the users page's first rows, as the server lists them. */
export function distWithFloors(dir, firstRows, { debounceMs, rows }) {
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(DIST, dir, { recursive: true });
  const css = fs.readdirSync(DIST).filter((f) => f.endsWith('.css'));
  writeCompressed(dir, 'floor.html', usersPage(css, firstRows.map(rowHtml).join('\n')));
  writeCompressed(dir, 'search-floor.js', searchScript(debounceMs, rows));
  writeCompressed(dir, 'search-floor.html', usersPage(css, firstRows.map(rowHtml).join('\n'),
    '<script type="module" src="/search-floor.js"></script>'));
  return dir;
}
