/* global document, sessionStorage */
// The Gatehouse dashboard: polls GET /v1/dashboard once a second with the token the operator
// typed (kept in this tab's sessionStorage only) and redraws five tables. Values go in with
// textContent only: nothing from the cluster is ever parsed as HTML.
'use strict';
const $ = (id) => document.getElementById(id);
const KEY = 'gatehouse-admin-token';
let timer;

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function fill(id, rows, empty) {
  const body = $(id).tBodies[0];
  body.replaceChildren();
  if (!rows.length) { const tr = body.insertRow(); cell(tr, empty).colSpan = 9; return; }
  for (const r of rows) {
    const tr = body.insertRow();
    if (r.key) tr.dataset.key = r.key;
    for (const c of r.cells) cell(tr, c[0], c[1]);
  }
}

const secs = (ms) => (ms == null ? '-' : `${(ms / 1000).toFixed(1)}s ago`);
const pct = (x) => (x == null ? '-' : `${(x * 100).toFixed(1)}%`);
const counts = (o) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ');

function nodeState(n) {
  if (n.stale) return ['stale', 'bad'];
  if (n.refused && n.refused.revision > n.revision) return [`refused ${n.refused.revision}`, 'bad'];
  if (n.behind) return ['behind', 'warn'];
  if (n.error) return ['serving (no metrics)', 'warn'];
  return ['serving', 'ok'];
}

function render(d) {
  const live = d.nodes.filter((n) => !n.stale).length;
  $('summary').textContent = `config revision ${d.configRevision} · ${live}/${d.nodes.length} nodes live · ${d.prefix}`;
  $('updated').textContent = `updated ${new Date(d.time).toLocaleTimeString()}`;
  fill('nodes', d.nodes.map((n) => ({
    key: n.id,
    cells: [[n.id], [n.address], [String(n.revision)], [String(n.lag), n.lag ? 'warn' : ''], nodeState(n), [secs(n.lastSeenMs)],
      [n.cpu == null ? '-' : pct(n.cpu)], [n.nats ? (n.nats.connected ? 'up' : 'down') : '-', n.nats && !n.nats.connected ? 'bad' : ''],
      [n.refused ? `${n.refused.revision}: ${n.refused.errors.join('; ')}` : '-', n.refused && n.refused.revision > n.revision ? 'bad' : '']],
  })), 'no nodes registered');
  fill('routes', d.routes.map((r) => ({
    key: r.route,
    cells: [[r.route], [r.rps.toFixed(1)], [pct(r.errorRatio), r.errorRatio ? 'bad' : ''], [r.p99ms == null ? '-' : `${r.p99ms} ms`]],
  })), 'no routes');
  const ups = [];
  for (const [name, u] of Object.entries(d.upstreams)) {
    for (const [url, t] of Object.entries(u.targets)) {
      ups.push({ key: `${name} ${url}`, cells: [[name], [url], [`${t.available}/${t.nodes} nodes`, t.available < t.nodes ? 'bad' : 'ok'], [counts(t.health)], [counts(t.breaker), t.breaker.open ? 'bad' : '']] });
    }
  }
  fill('upstreams', ups, 'no upstreams');
  fill('counters', Object.entries(d.counters).map(([k, v]) => ({ key: k, cells: [[k], [String(v)]] })), 'no rate-limit or cache counters yet');
  fill('history', d.history.map((h) => ({
    key: String(h.revision),
    cells: [[String(h.revision)], [new Date(h.at).toLocaleString()], [h.who], [h.op], [h.changes.map((c) => `${{ added: '+', changed: '~', removed: '-' }[c.action] || ''}${c.kind}/${c.name}`).join(' ')]],
  })), 'no recorded changes');
}

async function poll() {
  clearTimeout(timer);
  const token = sessionStorage.getItem(KEY);
  if (!token) { showLogin(''); return; }
  try {
    const r = await fetch('/v1/dashboard', { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
    if (r.status === 401) { sessionStorage.removeItem(KEY); showLogin('that token was refused'); return; }
    if (!r.ok) throw new Error(`admin API answered ${r.status}`);
    render(await r.json());
    $('login').hidden = true;
    $('main').hidden = false;
  } catch (err) {
    $('updated').textContent = `not updated: ${err.message}`;
    $('updated').className = 'bad';
  }
  timer = setTimeout(poll, 1000);
}

function showLogin(msg) {
  $('main').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = msg;
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $('token').value.trim());
  $('token').value = '';
  poll();
});
poll();
