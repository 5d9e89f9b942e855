import type { ServerDocument } from '../../shared/policy/document.ts';
import {
  filterDiscoverResult,
  filterListResult,
  type Gate,
  gateMessage,
  isFilteredList,
  mayDeliver,
} from '../../shared/policy/gate.ts';
import { mayConnect, type Principal } from '../../shared/policy/policy.ts';
import {
  isFailure,
  type JSONRPCMessage,
  type RequestId,
  resultOf,
  validSessionId,
} from '../../shared/protocol/jsonrpc.ts';
import { type Refusal, reasonOf, toWire } from '../../shared/protocol/refusal.ts';
import { modernHeaders, type Revision, revisionOf } from '../../shared/protocol/revision.ts';
import { sseFilter } from '../../shared/protocol/sse.ts';
import { checkOrigin } from '../../shared/security/origin.ts';
import { sign } from '../../shared/security/signing.ts';
import { authenticate, credentialRefusal } from '../auth.ts';
import { loadDocument } from '../documents.ts';
import type { Env, Settings } from '../env.ts';
import { rememberTools } from '../registry/catalog.ts';
import { resourceOf } from '../sign-in/oauth.ts';
import { type MessagePoint, writePoint } from './analytics.ts';
import { audit } from './audit.ts';
import { jsonFilter, parseMessage, readBody } from './body.ts';
import { bridgeFetch, upstreamOf } from './forward.ts';
import { listenChanges, sessionChanges, watchDocument } from './watch.ts';

export interface McpRequest {
  request: Request;
  env: Env;
  settings: Settings;
  ctx: ExecutionContext;
  server: string;
}

/** Headers a client sends that the bridge needs; nothing else crosses (no Authorization, no cookies). */
const forwardedRequestHeaders = [
  'content-type',
  'accept',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
];
const forwardedResponseHeaders = ['content-type', 'mcp-session-id', 'retry-after', 'cache-control'];

export function refusal(refused: Refusal, id: RequestId | null = null): Response {
  const wire = toWire(refused, id);
  return new Response(JSON.stringify(wire.body), { status: wire.status, headers: wire.headers });
}

export function resourceMetadataUrl(url: URL, server: string): string {
  return `${url.origin}/.well-known/oauth-protected-resource/${server}/mcp`;
}

interface Exchange {
  doc: ServerDocument;
  principal: Principal;
  point: MessagePoint;
  started: number;
  audited?: unknown;
  revision?: Exclude<Revision, { era: 'refused' }>;
}

function finish(x: McpRequest, exchange: Exchange, status: string, responseBytes: number): void {
  const { point, doc } = exchange;
  point.status = status;
  point.responseBytes = responseBytes;
  point.durationMs = Date.now() - exchange.started;
  x.ctx.waitUntil(
    (async () => {
      writePoint(x.env.ANALYTICS, point);
      if (point.method === 'tools/call') {
        await audit(doc, {
          principal: point.principal,
          authMethod: point.authMethod,
          server: point.server,
          tool: point.name,
          decision: point.decision,
          status,
          arguments: exchange.audited,
        });
      }
    })(),
  );
}

export async function handleMcp(x: McpRequest): Promise<Response> {
  const { request, env, settings, server } = x;
  const started = Date.now();
  const url = new URL(request.url);
  const origin = request.headers.get('origin') ?? undefined;
  const policy = { allowedHosts: settings.ALLOWED_HOSTS, allowedOrigins: settings.ALLOWED_ORIGINS };
  const verdict = checkOrigin(policy, url.host, origin);
  if (verdict === 'forbidden_host') return refusal({ kind: 'forbidden_host' });
  // The gateway's own page (same origin) may call; other browser origins only when listed.
  if (verdict === 'forbidden_origin' && origin !== url.origin) return refusal({ kind: 'forbidden_origin' });

  const resource = resourceOf(url.origin, server);
  const auth = await authenticate(request.headers.get('authorization'), env, settings, resource);
  const metadata = resourceMetadataUrl(url, server);
  // Credentials first: a caller without valid ones learns nothing of which servers exist.
  if (!auth.ok) return refusal(credentialRefusal(auth.reason, metadata));
  const loaded = await loadDocument(env.GATEWAY_KV, server, settings.DOCUMENT_CACHE_SECONDS);
  const anonymousAllowed = loaded.ok && loaded.document.access.anonymous;
  if (auth.principal.method === 'anonymous' && !anonymousAllowed) {
    return refusal({
      kind: 'unauthorized',
      resourceMetadata: metadata,
      detail: 'this MCP server needs a bearer token',
    });
  }
  if (!loaded.ok) {
    if (loaded.problem === 'missing') return refusal({ kind: 'unknown_server', server });
    console.error(JSON.stringify({ event: 'document.invalid', server, detail: loaded.detail }));
    return refusal({ kind: 'document_invalid', server });
  }
  const doc = loaded.document;
  const principal = auth.principal;
  const method = request.method;
  const point: MessagePoint = {
    server,
    method: method === 'POST' ? 'unknown' : `http/${method}`,
    name: '',
    decision: 'allowed',
    principal: principal.subject,
    status: 'success',
    protocolVersion: request.headers.get('mcp-protocol-version') ?? '',
    authMethod: principal.method,
    durationMs: 0,
    requestBytes: 0,
    responseBytes: 0,
  };
  let incoming: Incoming | undefined;
  if (method === 'POST') {
    const read = await readIncoming(request, settings);
    if (read instanceof Response) return read;
    // Before any policy decision: a request whose headers and body disagree is not looked at further.
    if (read.revision.era === 'refused') return refusedRevision(x, point, read, read.revision, started);
    incoming = read as Incoming;
  }
  if (!mayConnect(doc, principal)) return refusal({ kind: 'forbidden', server });
  const sessionId = request.headers.get('mcp-session-id');
  if (sessionId !== null && !validSessionId(sessionId)) return refusal({ kind: 'invalid_session_id' });

  const exchange: Exchange = { doc, principal, point, started };
  let body: Uint8Array | undefined;
  let gate: Gate | undefined;
  if (incoming !== undefined) {
    const era = incoming.revision.era;
    gate = gateMessage(doc, principal, incoming.message, era);
    point.requestBytes = incoming.bytes;
    point.method = gate.method ?? 'response';
    point.name = 'name' in gate ? (gate.name ?? '') : '';
    if (gate.action === 'drop') return new Response(null, { status: 202 });
    if (gate.action === 'refuse') {
      point.decision = reasonOf(gate.refusal);
      exchange.audited = paramsArguments(incoming.message);
      finish(x, exchange, 'refused', 0);
      return refusal(gate.refusal, gate.id);
    }
    exchange.audited = paramsArguments(gate.message);
    exchange.revision = incoming.revision;
    body = new TextEncoder().encode(JSON.stringify(gate.message));
  }
  return forward(x, exchange, url, body, gate?.action === 'forward' ? gate : undefined);
}

interface Incoming {
  message: JSONRPCMessage;
  bytes: number;
  revision: Exclude<Revision, { era: 'refused' }>;
}

/** A POSTed message, bounded, parsed, and placed in its revision; a Response when it cannot be read. */
async function readIncoming(
  request: Request,
  settings: Settings,
): Promise<(Omit<Incoming, 'revision'> & { revision: Revision }) | Response> {
  const raw = await readBody(request, settings.MAX_BODY_BYTES);
  if (raw === undefined) return refusal({ kind: 'body_too_large', limit: settings.MAX_BODY_BYTES });
  const parsed = parseMessage(raw);
  if (!parsed.ok) return refusal(parsed.refusal);
  const header = (name: string) => request.headers.get(name) ?? undefined;
  const revision = revisionOf({
    httpMethod: 'POST',
    protocolVersion: header('mcp-protocol-version'),
    mcpMethod: header('mcp-method'),
    mcpName: header('mcp-name'),
    body: parsed.message,
  });
  return { message: parsed.message, bytes: raw.byteLength, revision };
}

/** A revision refusal is counted (no audit event: no policy was asked) and answered as the spec says. */
function refusedRevision(
  x: McpRequest,
  point: MessagePoint,
  read: { message: JSONRPCMessage; bytes: number },
  revision: Extract<Revision, { era: 'refused' }>,
  started: number,
): Response {
  point.method = 'method' in read.message ? read.message.method : 'response';
  point.decision = reasonOf(revision.refusal);
  point.status = 'refused';
  point.requestBytes = read.bytes;
  point.durationMs = Date.now() - started;
  writePoint(x.env.ANALYTICS, point);
  return refusal(revision.refusal, revision.id);
}

function paramsArguments(message: JSONRPCMessage): unknown {
  return 'params' in message ? (message.params as { arguments?: unknown } | undefined)?.arguments : undefined;
}

async function forward(
  x: McpRequest,
  exchange: Exchange,
  url: URL,
  body: Uint8Array | undefined,
  gate: Extract<Gate, { action: 'forward' }> | undefined,
): Promise<Response> {
  const { request, settings } = x;
  const upstream = upstreamOf(exchange.doc, settings);
  if (upstream === undefined) {
    console.error(
      JSON.stringify({
        event: 'bridge.unconfigured',
        server: x.server,
        fix: 'set BRIDGE_URL (wrangler.toml [vars]) to where the bridge serves /<server>/mcp',
      }),
    );
    finish(x, exchange, 'upstream_error', 0);
    return refusal({ kind: 'gateway_misconfigured' });
  }
  upstream.search = url.search;
  const headers = new Headers();
  for (const name of forwardedRequestHeaders) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  const revision = exchange.revision;
  if (revision?.era === 'modern' && gate !== undefined && 'method' in gate.message) {
    // Computed from the body the bridge will get (a renamed tool has its real name), never copied.
    const modern = modernHeaders(gate.message as JSONRPCMessage & { method: string }, revision.revision);
    for (const [name, value] of Object.entries(modern)) headers.set(name, value);
    // Argument mirrors (SEP-2243): the bridge or the server checks them against the body.
    for (const [name, value] of request.headers) if (name.startsWith('mcp-param-')) headers.set(name, value);
  }
  const signed = await sign(
    settings.BRIDGE_SIGNING_SECRET,
    {
      method: request.method,
      path: upstream.pathname + upstream.search,
      sessionId: headers.get('mcp-session-id') ?? undefined,
      body: body ?? new Uint8Array(),
    },
    exchange.principal,
    Date.now() / 1000,
  );
  for (const [name, value] of Object.entries(signed)) headers.set(name, value);
  let response: Response;
  try {
    response = await bridgeFetch(x.env, settings)(upstream, { method: request.method, headers, body });
  } catch (error) {
    console.error(
      JSON.stringify({ event: 'bridge.unreachable', server: x.server, error: String(error).slice(0, 200) }),
    );
    finish(x, exchange, 'upstream_error', 0);
    return refusal({ kind: 'upstream_unavailable' });
  }
  return relay(x, exchange, response, gate);
}

/** The bridge's answer on its way back: lists filtered, JSON or SSE, event by event; bytes counted. */
function relay(
  x: McpRequest,
  exchange: Exchange,
  response: Response,
  gate: Extract<Gate, { action: 'forward' }> | undefined,
): Response {
  const headers = new Headers();
  for (const name of forwardedResponseHeaders) {
    const value = response.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  const requestId = gate && 'id' in gate.message ? gate.message.id : undefined;
  let status = response.ok ? 'success' : 'upstream_error';
  const inspect = (data: string): string | null | undefined => {
    // Without a request of its own (a standing stream), only a resource update can be filtered.
    if (requestId === undefined && !data.includes('notifications/resources/updated')) return undefined;
    let message: JSONRPCMessage & { id?: unknown };
    try {
      message = JSON.parse(data) as JSONRPCMessage & { id?: unknown };
    } catch {
      return undefined;
    }
    if (!mayDeliver(exchange.doc, exchange.principal, message)) return null;
    if (requestId === undefined || message.id !== requestId || 'method' in message) return undefined;
    status = isFailure(message) ? 'error' : 'success';
    const result = resultOf(message);
    if (gate?.method === 'server/discover' && result !== undefined) {
      const filtered = filterDiscoverResult(exchange.doc, exchange.principal, result);
      return JSON.stringify({ ...message, result: filtered });
    }
    if (!isFilteredList(gate?.method) || result === undefined || gate?.method === undefined) return undefined;
    if (gate.method === 'tools/list') {
      const write = rememberTools(x.env.GATEWAY_KV, x.server, result);
      if (write) x.ctx.waitUntil(write);
    }
    return JSON.stringify({
      ...message,
      result: filterListResult(exchange.doc, exchange.principal, gate.method, result),
    });
  };
  let bytes = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
    flush() {
      finish(x, exchange, status, bytes);
    },
  });
  const type = response.headers.get('content-type') ?? '';
  let stream = response.body;
  const standing = x.request.method === 'GET' || gate?.method === 'subscriptions/listen';
  if (stream && standing && response.ok && type.startsWith('text/event-stream')) {
    stream = watchDocument(
      stream,
      documentChanged(x, exchange),
      Math.max(1, x.settings.DOCUMENT_CACHE_SECONDS) * 1000,
      gate?.method === 'subscriptions/listen' ? listenChanges(gate.message) : sessionChanges,
    );
  }
  if (stream && type.startsWith('text/event-stream')) stream = stream.pipeThrough(sseFilter(inspect));
  else if (stream && requestId !== undefined && type.startsWith('application/json'))
    stream = stream.pipeThrough(jsonFilter(inspect));
  if (!stream) {
    finish(x, exchange, status, 0);
    return new Response(null, { status: response.status, headers });
  }
  return new Response(stream.pipeThrough(counter), { status: response.status, headers });
}

/** True once the server's document differs from the one this stream was opened under (then follows the new one). */
function documentChanged(x: McpRequest, exchange: Exchange): () => Promise<boolean> {
  let known = JSON.stringify(exchange.doc);
  return async () => {
    const loaded = await loadDocument(x.env.GATEWAY_KV, x.server, x.settings.DOCUMENT_CACHE_SECONDS);
    const now = JSON.stringify(loaded.ok ? loaded.document : null);
    if (now === known) return false;
    known = now;
    // What the stream still carries is filtered by the document in force, not the one it opened under.
    if (loaded.ok) exchange.doc = loaded.document;
    return true;
  };
}
