/**
 * `GET /`: a page where a person pastes an API key and sees the servers and tools they may
 * use, with client configurations to copy. The key lives in the page's memory only (a
 * variable; never storage, never a URL) and goes nowhere but this origin's Authorization
 * header. Everything the server sends is inserted as text, never as HTML.
 */

export const keyPlaceholder = '__MCP_GATEWAY_KEY__';

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MCP edge gateway</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-bottom: .2rem; }
form { display: flex; gap: .5rem; } input { flex: 1; padding: .4rem; font: inherit; }
.server { border: 1px solid #ddd; border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0; }
.tools li { font-family: ui-monospace, monospace; } .muted { color: #666; }
.state { font-size: .9rem; margin: .2rem 0; } .state[data-state=ready] { color: #1a7f37; }
.state[data-state=starting] { color: #9a6700; } .state[data-state=failing] { color: #cf222e; }
pre { background: #f5f5f7; padding: .6rem; overflow-x: auto; font-size: 13px; }
button { font: inherit; cursor: pointer; }
</style>
</head>
<body>
<h1>MCP edge gateway</h1>
<p>Paste your API key to see the MCP servers and tools you may use. It stays in this page's memory: reloading forgets it.</p>
<form id="key-form">
<input id="key" type="password" autocomplete="off" placeholder="mcpgw_… (empty: public servers only)" aria-label="API key">
<button type="submit">Show my servers</button>
</form>
<p id="status" class="muted" role="status"></p>
<div id="servers"></div>
<script src="/page.js"></script>
</body>
</html>
`;

const script = `'use strict';
let key = '';
const placeholder = ${JSON.stringify(keyPlaceholder)};
const el = (tag, attrs, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
};
const auth = () => (key ? { authorization: 'Bearer ' + key } : {});

async function rpc(url, session, message) {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...auth() };
  if (session) Object.assign(headers, { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(message) });
  const text = await response.text();
  if (!response.ok) throw new Error(refusalOf(response.status, text));
  const data = (response.headers.get('content-type') || '').includes('text/event-stream')
    ? text.split('\\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5))).find((m) => m.id === message.id)
    : text ? JSON.parse(text) : undefined;
  return { session: response.headers.get('mcp-session-id') || session, data };
}

/** The gateway's own words for a JSON-RPC error: its message, and why the server failed when it knows. */
function said(error) {
  const reason = error.data && typeof error.data.reason === 'string' ? ' (' + error.data.reason + ')' : '';
  return error.message + reason;
}

function refusalOf(status, text) {
  let error;
  try { error = JSON.parse(text).error; } catch { error = undefined; }
  return error && typeof error.message === 'string' ? said(error) : 'HTTP ' + status;
}

async function listTools(url) {
  const init = await rpc(url, undefined, { jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'gateway-page', version: '1' } } });
  await rpc(url, init.session, { jsonrpc: '2.0', method: 'notifications/initialized' });
  const listed = await rpc(url, init.session, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
  fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': init.session, ...auth() } }).catch(() => {});
  if (listed.data && listed.data.error) throw new Error(said(listed.data.error));
  return (listed.data && listed.data.result && listed.data.result.tools) || [];
}

function configBlock(label, text) {
  const shown = text.split(placeholder).join(key || '<your API key>');
  const button = el('button', { type: 'button', 'data-copy': label }, 'Copy');
  button.addEventListener('click', () => navigator.clipboard.writeText(shown).then(() => { button.textContent = 'Copied'; }));
  return el('div', { class: 'config' }, el('h3', {}, label, ' ', button), el('pre', {}, shown));
}

async function showServer(entry) {
  const server = entry.server;
  const name = server.name.split('/').pop();
  const url = server.remotes[0].url;
  const tools = el('ul', { class: 'tools' }, el('li', { class: 'muted' }, 'listing tools…'));
  const state = el('p', { class: 'state', 'data-state': 'checking' }, 'checking…');
  const setState = (value, text) => { state.dataset.state = value; state.textContent = text; };
  const configs = server._meta['dev.mcp-edge-gateway/client-configs'] || {};
  const box = el('section', { class: 'server', 'data-server': name },
    el('h2', {}, name), state, el('p', { class: 'muted' }, server.description || ''), el('code', {}, url), tools,
    ...Object.entries(configs).map(([label, text]) => configBlock(label, text)));
  document.getElementById('servers').append(box);
  // The state is what this page meets on the real path: an answer, a wait, or the gateway's reason.
  const slow = setTimeout(() => setState('starting', 'starting: waiting for the MCP server to answer…'), 2000);
  try {
    const listed = await listTools(url);
    setState('ready', 'ready');
    tools.replaceChildren(...listed.map((t) => el('li', { 'data-tool': t.name }, t.name + (t.description ? ' — ' + t.description : ''))));
    if (listed.length === 0) tools.replaceChildren(el('li', { class: 'muted' }, 'no tools you may use'));
  } catch (error) {
    setState('failing', 'failing: ' + error.message);
    tools.replaceChildren(el('li', { class: 'muted' }, 'could not list tools'));
  } finally {
    clearTimeout(slow);
  }
}

async function show() {
  const status = document.getElementById('status');
  document.getElementById('servers').replaceChildren();
  status.textContent = 'Loading…';
  const response = await fetch('/v0.1/servers?limit=100', { headers: auth() });
  const body = await response.json();
  if (!response.ok) {
    status.textContent = ([400, 401, 403].includes(response.status) ? 'That key was refused: ' : 'Failed: ') + body.error;
    return;
  }
  status.textContent = body.servers.length + ' server(s) for ' + (key ? 'this key' : 'anonymous callers') + '.';
  await Promise.all(body.servers.map(showServer));
  status.dataset.ready = 'true';
}

document.getElementById('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  key = document.getElementById('key').value.trim();
  show().catch((error) => { document.getElementById('status').textContent = 'Failed: ' + error.message; });
});
`;

const security = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

export function page(): Response {
  return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8', ...security } });
}

export function pageScript(): Response {
  return new Response(script, { headers: { 'content-type': 'text/javascript; charset=utf-8', ...security } });
}
