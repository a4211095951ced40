// Theater dashboard: the live supervision tree, one actor's detail, and buttons that drive it.
// It talks to the same API as the CLI (docs/server.md); the login cookie carries the token.
// Everything shown is set with textContent: names, states and events are untrusted text.
'use strict';

const $ = (sel) => document.querySelector(sel);
let selected = null;          // id of the actor shown in the detail panel
let treeTimer = null;
let clustered = false;        // the server is a node of a cluster (GET /v1/server says)
const nodes = new Map();      // id -> its .node element (rebuilt with the tree)
const flashing = new Set();   // ids that failed recently: their node flashes

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error((data.error && data.error.message) || `HTTP ${res.status}`);
    err.code = data.error && data.error.code;
    throw err;
  }
  return data;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function duration(ms) {
  if (ms === undefined || ms === null) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

// ---- the tree ------------------------------------------------------------------------------

function renderNode(n, isRoot) {
  const li = el('li');
  const box = el('div', `node state-${n.status}${isRoot ? ' root' : ''}`);
  box.dataset.actorId = n.id;
  box.dataset.name = n.name || n.id;
  box.dataset.status = n.status;
  box.dataset.restarts = String(n.restarts || 0);
  box.dataset.node = n.node || '';
  box.append(el('span', `dot state-${n.status}`), el('span', 'name', n.name || n.id));
  if (!isRoot) {
    const where = el('span', 'where', `@${n.node || '?'}`);
    where.title = 'the node that runs it';
    box.append(where);
    const r = el('span', 'restarts', `↻ ${n.restarts || 0}`);
    r.title = 'restarts';
    r.hidden = !n.restarts;
    box.append(r);
    if (n.mailbox) box.append(el('span', 'mailbox', `✉ ${n.mailbox}`));
    box.append(el('span', 'id', n.id));
    box.addEventListener('click', () => select(n.id));
    if (n.id === selected) box.classList.add('selected');
    if (flashing.has(n.id)) box.classList.add('flash');
    nodes.set(n.id, box);
  }
  li.append(box);
  if (n.children && n.children.length) {
    const ul = el('ul');
    for (const c of n.children) ul.append(renderNode(c, false));
    li.append(ul);
  }
  return li;
}

async function refreshTree() {
  try {
    const root = await api('GET', '/v1/tree');
    nodes.clear();
    const tree = $('#tree');
    tree.replaceChildren(renderNode(root, true));
    $('#tree-empty').hidden = root.children.length > 0;
    if (clustered) await refreshRemote();
    document.body.dataset.treeLoaded = 'true';
  } catch (e) {
    $('#server-info').textContent = `cannot load the tree: ${e.message}`;
  }
}

// In a cluster: the actors that other nodes run (their own dashboards show their trees).
async function refreshRemote() {
  const { actors } = await api('GET', '/v1/actors');
  const remote = actors.filter((a) => a.remote);
  $('#remote').hidden = remote.length === 0;
  $('#remote-list').replaceChildren(...remote.map((a) => {
    const li = el('li', 'remote-actor');
    li.dataset.actorId = a.id;
    li.dataset.node = a.node;
    li.append(el('span', 'where', `@${a.node}`), el('span', 'name', a.name), el('span', 'id', a.id));
    return li;
  }));
}

function scheduleTree() {
  if (treeTimer) return;
  treeTimer = setTimeout(() => { treeTimer = null; refreshTree(); }, 120);
}

function flash(id) {
  flashing.add(id);
  const box = nodes.get(id);
  if (box) { box.classList.remove('flash'); void box.offsetWidth; box.classList.add('flash'); }
  setTimeout(() => { flashing.delete(id); const b = nodes.get(id); if (b) b.classList.remove('flash'); }, 2000);
}

// ---- one actor -----------------------------------------------------------------------------

function eventRow(e, withActor) {
  const li = el('li', `t-${e.type}`);
  const t = new Date(e.time_ms);
  li.append(el('span', '', t.toLocaleTimeString([], { hour12: false }) + '.' + String(t.getMilliseconds()).padStart(3, '0')));
  if (withActor) li.append(el('span', '', e.actor || e.name || ''));
  li.append(el('span', '', e.type), el('span', '', e.detail));
  return li;
}

async function select(id) {
  selected = id;
  for (const [nid, box] of nodes) box.classList.toggle('selected', nid === id);
  await refreshDetail();
}

async function refreshDetail() {
  if (!selected) return;
  let a;
  try {
    a = await api('GET', `/v1/actors/${encodeURIComponent(selected)}`);
  } catch (e) {
    $('#detail-title').textContent = `${selected}: ${e.message}`;
    $('#detail').hidden = true;
    return;
  }
  $('#detail').hidden = false;
  $('#detail-title').textContent = a.name;
  $('#d-id').textContent = a.id;
  $('#d-node').textContent = a.node || '';
  const badge = $('#d-status');
  badge.textContent = a.status;
  badge.className = `badge state-${a.status}`;
  $('#d-restarts').textContent = String(a.restarts);
  $('#d-uptime').textContent = duration(a.uptime_ms);
  $('#d-mailbox').textContent = `${a.mailbox} / ${a.mailbox_limit}`;
  $('#d-state-size').textContent = `${a.state_bytes} bytes`;
  $('#d-component').textContent = a.manifest.component;
  $('#d-handlers').textContent = (a.manifest.handlers || []).join(', ') || '(none)';
  const preview = a.state_preview_encoding === 'base64' ? `base64:${a.state_preview}` : a.state_preview;
  $('#d-state').textContent = (preview || '(empty)') + (a.state_preview_truncated ? ' …' : '');
  $('#d-events').replaceChildren(...a.recent_events.slice().reverse().map((e) => eventRow(e, false)));
}

function showReply(text, isError) {
  const r = $('#reply');
  r.hidden = false;
  r.textContent = text;
  r.classList.toggle('error', !!isError);
}

async function message(kind) {
  if (!selected) return;
  const text = $('#message').value;
  try {
    const r = await api('POST', `/v1/actors/${encodeURIComponent(selected)}/${kind}`, { message: text });
    showReply(kind === 'send' ? `sent: ${text}` : (r.reply_encoding === 'base64' ? `base64:${r.reply}` : r.reply));
  } catch (e) {
    showReply(`${e.code || 'error'}: ${e.message}`, true);
  }
  refreshDetail();
}

async function action(kind) {
  if (!selected) return;
  if (kind === 'stop' && !window.confirm(`Stop ${selected} for good?`)) return;
  try {
    await api('POST', `/v1/actors/${encodeURIComponent(selected)}/${kind}`, {});
    if (kind === 'stop') {
      if (selected) forget(`stopped ${selected}`);
    } else {
      showReply(`restarted ${selected}`);
    }
  } catch (e) {
    showReply(`${e.code || 'error'}: ${e.message}`, true);
  }
  scheduleTree();
  refreshDetail();
}

// ---- live ----------------------------------------------------------------------------------

function onEvent(e) {
  const log = $('#log');
  log.prepend(eventRow(e, true));
  while (log.children.length > 200) log.lastChild.remove();
  if (e.type === 'failed' || e.type === 'escalated') flash(e.actor);
  if (e.type !== 'log' && e.type !== 'progress') scheduleTree();
  if (e.actor && e.actor === selected) {
    if (e.type === 'stopped' || e.type === 'exited') forget(`${e.type} ${e.actor}`);
    else refreshDetail();
  }
}

// The selected actor is gone: the panel says so (and asks for nothing more about it).
function forget(title) {
  $('#detail-title').textContent = title;
  $('#detail').hidden = true;
  selected = null;
}

function connect() {
  const live = $('#live');
  const es = new EventSource('/v1/stream?since=0');
  es.onopen = () => { live.className = 'live on'; document.body.dataset.live = 'true'; };
  es.onerror = () => { live.className = 'live off'; };
  es.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch (_) { /* a frame we do not know */ } };
  es.addEventListener('gap', () => refreshTree());
}

async function refreshInfo() {
  try {
    const s = await api('GET', '/v1/server');
    const wasClustered = clustered;
    clustered = !!s.cluster;
    const where = s.cluster
      ? `node ${s.node} of cluster ${s.cluster.name} (${s.cluster.nodes.filter((n) => n.alive).length} live nodes)`
      : `node ${s.node}`;
    $('#server-info').textContent = `${s.address} · ${where} · ${s.actors} actors · engine ${s.engine} · up ${duration(s.uptime_ms)}`;
    if (clustered && !wasClustered) scheduleTree();
  } catch (e) {
    $('#server-info').textContent = `server unreachable: ${e.message}`;
  }
}

$('#message-form').addEventListener('submit', (ev) => { ev.preventDefault(); message('send'); });
$('#request').addEventListener('click', () => message('request'));
$('#restart').addEventListener('click', () => action('restart'));
$('#stop').addEventListener('click', () => action('stop'));

refreshTree();
refreshInfo();
connect();
setInterval(refreshInfo, 5000);
setInterval(refreshTree, 5000);  // in case the stream missed something
