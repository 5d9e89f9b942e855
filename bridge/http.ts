import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Principal } from '../shared/policy/policy.ts';
import { maxNestingDepth, nestedTooDeep, type RequestId } from '../shared/protocol/jsonrpc.ts';
import { type Refusal, reasonOf, toWire } from '../shared/protocol/refusal.ts';
import { checkOrigin, type OriginPolicy } from '../shared/security/origin.ts';
import { verify } from '../shared/security/signing.ts';
import type { ServerEndpoint } from './endpoint.ts';
import { header, requestStateOf } from './incoming.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics/metrics.ts';
import type { NonceCache } from './nonces.ts';
import { hopHeader, type Peers, relayToPeer, routeOf } from './sessions/peers.ts';

export interface HttpDeps {
  endpoints: ReadonlyMap<string, ServerEndpoint>;
  metrics: Metrics;
  log: Logger;
  ready: () => boolean;
  origins: OriginPolicy;
  /** Present when every request must carry the edge's signature. */
  signing: { secret: string; nonces: NonceCache } | undefined;
  /** Present when other instances serve sessions too (StatefulSet replicas). */
  peers?: Peers;
}

const mcpPath = /^\/([a-z0-9][a-z0-9-]{0,62})\/mcp\/?$/;

type Body = { ok: true; raw: Buffer } | { ok: false; refusal: Refusal };

/** Reads a body, refusing it as soon as it passes `limit` bytes, whatever Content-Length claims. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Body> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    return { ok: false, refusal: { kind: 'body_too_large', limit } };
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > limit) {
      req.resume();
      return { ok: false, refusal: { kind: 'body_too_large', limit } };
    }
    chunks.push(chunk);
  }
  return { ok: true, raw: Buffer.concat(chunks) };
}

function parseJson(raw: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(raw.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

export function sendRefusal(res: ServerResponse, refusal: Refusal, id: RequestId | null = null): void {
  const wire = toWire(refusal, id);
  if (res.headersSent) {
    res.end();
    return;
  }
  // An oversized body is not read to its end: close the connection instead.
  const headers = refusal.kind === 'body_too_large' ? { ...wire.headers, connection: 'close' } : wire.headers;
  res.writeHead(wire.status, headers).end(JSON.stringify(wire.body));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export function createMcpServer(deps: HttpDeps): Server {
  const server = createServer((req, res) => {
    route(req, res, deps).catch((error: Error) => {
      deps.log.log('error', 'request failed', { error: error.message });
      sendRefusal(res, { kind: 'internal_error' });
    });
  });
  server.headersTimeout = 30_000;
  // Longer than any client's idle-connection pool (workerd's, a load balancer's), so that the
  // client closes an idle connection first: a server that closes it (Node's default: 5 s)
  // races the client reusing it, and that request is lost ("Network connection lost").
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0; // SSE streams are long-lived; idle sessions are reaped instead
  return server;
}

async function route(req: IncomingMessage, res: ServerResponse, deps: HttpDeps): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path === '/healthz') return sendJson(res, 200, { status: 'alive' });
  if (path === '/readyz') {
    const ready = deps.ready();
    const servers = Object.fromEntries([...deps.endpoints].map(([name, e]) => [name, e.status]));
    return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', servers });
  }
  const verdict = checkOrigin(deps.origins, req.headers.host, req.headers.origin);
  if (verdict !== 'ok') return refuse(res, deps, '', { kind: verdict });
  const match = mcpPath.exec(path);
  const name = match?.[1];
  if (name === undefined) return refuse(res, deps, '', { kind: 'not_found' });
  const endpoint = deps.endpoints.get(name);
  if (!endpoint) return refuse(res, deps, '', { kind: 'unknown_server', server: name });
  if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE') {
    return refuse(res, deps, name, { kind: 'method_not_allowed', allow: 'GET, POST, DELETE' });
  }
  let raw: Buffer = Buffer.alloc(0);
  if (req.method === 'POST') {
    const read = await readBody(req, endpoint.limits.maxBodyBytes);
    if (!read.ok) return refuse(res, deps, name, read.refusal);
    raw = read.raw;
    deps.metrics.bytes.inc({ server: name, direction: 'in' }, raw.length);
  }
  let principal: Principal | undefined;
  if (deps.signing) {
    const verdict = await checkSignature(req, raw, deps.signing);
    if (!verdict.ok) return refuse(res, deps, name, { kind: 'unauthenticated', reason: verdict.reason });
    principal = verdict.principal;
  }
  let body: unknown;
  if (req.method === 'POST') {
    const parsed = parseJson(raw);
    if (!parsed.ok) return refuse(res, deps, name, { kind: 'invalid_json' });
    if (nestedTooDeep(parsed.value)) {
      const detail = `nested deeper than ${maxNestingDepth} levels`;
      return refuse(res, deps, name, { kind: 'invalid_message', detail });
    }
    body = parsed.value;
  }
  // A session, or a 2026-07-28 request waiting for input, lives on the instance that made its id.
  const owned = header(req, 'mcp-session-id') ?? requestStateOf(body);
  const route = routeOf(deps.peers, owned, header(req, hopHeader));
  if (route.to === 'nowhere') return refuse(res, deps, name, { kind: 'unknown_session' });
  if (route.to === 'peer') return relay(req, res, raw, { ...route, server: name }, deps);
  countBytesOut(req, res, name, deps.metrics);
  const outcome = await endpoint.handle(req, res, body, principal);
  if (!outcome.ok) refuse(res, deps, name, outcome.refusal, outcome.id);
}

/** Another instance owns the session: pass the request on; if it is gone, so is the session (404). */
async function relay(
  req: IncomingMessage,
  res: ServerResponse,
  raw: Buffer,
  target: { owner: string; base: string; server: string },
  deps: HttpDeps,
): Promise<void> {
  const self = deps.peers?.self ?? '';
  if (!(await relayToPeer(req, res, raw, { ...target, self }, deps)))
    refuse(res, deps, target.server, { kind: 'unknown_session' });
}

/** The `requestState` of a 2026-07-28 retry bringing input, if the body is one. */
function checkSignature(req: IncomingMessage, raw: Buffer, signing: NonNullable<HttpDeps['signing']>) {
  const nowSeconds = Date.now() / 1000;
  return verify(
    signing.secret,
    {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      sessionId: header(req, 'mcp-session-id'),
      body: raw,
    },
    (name) => header(req, name),
    { nowSeconds, seen: (nonce, expiresAt) => signing.nonces.seen(nonce, expiresAt, nowSeconds) },
  );
}

function refuse(
  res: ServerResponse,
  deps: HttpDeps,
  server: string,
  refusal: Refusal,
  id: RequestId | null = null,
): void {
  deps.metrics.rejected.inc({ server, reason: reasonOf(refusal) });
  sendRefusal(res, refusal, id);
}

/** Bytes written on the socket while this response was open (HTTP/1.1: one response at a time). */
function countBytesOut(req: IncomingMessage, res: ServerResponse, server: string, metrics: Metrics): void {
  const socket = req.socket;
  const before = socket.bytesWritten;
  res.once('close', () =>
    metrics.bytes.inc({ server, direction: 'out' }, Math.max(0, socket.bytesWritten - before)),
  );
}

export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
