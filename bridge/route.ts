import type { Principal } from '../shared/policy/policy.ts';
import { depthRefusal, parseJson, readBody } from '../shared/protocol/body.ts';
import type { RequestId } from '../shared/protocol/jsonrpc.ts';
import { type Refusal, reasonOf, refusalResponse } from '../shared/protocol/refusal.ts';
import { checkOrigin, type OriginPolicy } from '../shared/security/origin.ts';
import { verify } from '../shared/security/signing.ts';
import type { Outcome, ServerEndpoint } from './endpoint.ts';
import { requestStateOf } from './incoming.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics/metrics.ts';
import type { NonceCache } from './nonces.ts';
import { type Portal, portalName } from './portal/portal.ts';
import { hopHeader, type Peers, relayToPeer, routeOf } from './sessions/peers.ts';

export interface HttpDeps {
  endpoints: ReadonlyMap<string, ServerEndpoint>;
  /** Every server behind one URL, `/mcp`. */
  portal: Portal;
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
const portalPath = /^\/mcp\/?$/;

/** The server a path names, if it is an MCP path: `portal` for `/mcp`, every server behind one URL. */
export function serverOf(path: string): string | undefined {
  return portalPath.test(path) ? portalName : mcpPath.exec(path)?.[1];
}

/** What serves an MCP path: a configured server's endpoint, or the portal. */
interface Served {
  readonly limits: { maxBodyBytes: number };
  handle(request: Request, body: unknown, principal?: Principal): Promise<Outcome>;
}

/**
 * The bridge's HTTP core, Web-standard: one `Request` in, one `Response` out (bridge/http.ts
 * is the one adapter to Node's server). Health, then Host/Origin, the path, the bounded body,
 * the edge's signature, the JSON, then the session's owner: this instance's endpoint, or a peer.
 */
export async function route(request: Request, deps: HttpDeps): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname;
  if (path === '/healthz') return json(200, { status: 'alive' });
  if (path === '/readyz') {
    const ready = deps.ready();
    const servers = Object.fromEntries([...deps.endpoints].map(([name, e]) => [name, e.status]));
    return json(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', servers });
  }
  const header = (name: string) => request.headers.get(name) ?? undefined;
  const verdict = checkOrigin(deps.origins, header('host'), header('origin'));
  if (verdict !== 'ok') return refuse(deps, '', { kind: verdict });
  const name = serverOf(path);
  if (name === undefined) return refuse(deps, '', { kind: 'not_found' });
  // Only `/mcp` is the portal: `/portal/mcp` is a server's path, and no server is named so.
  const endpoint: Served | undefined = portalPath.test(path) ? deps.portal : deps.endpoints.get(name);
  if (!endpoint) return refuse(deps, '', { kind: 'unknown_server', server: name });
  const method = request.method;
  if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
    return refuse(deps, name, { kind: 'method_not_allowed', allow: 'GET, POST, DELETE' });
  }
  let raw: Uint8Array = new Uint8Array(0);
  if (method === 'POST') {
    const limit = endpoint.limits.maxBodyBytes;
    const read = await readBody(request, limit);
    if (read === undefined) return refuse(deps, name, { kind: 'body_too_large', limit });
    raw = read;
    deps.metrics.bytes.inc({ server: name, direction: 'in' }, raw.byteLength);
  }
  let principal: Principal | undefined;
  if (deps.signing) {
    const signed = { method, path: path + url.search, sessionId: header('mcp-session-id'), body: raw };
    const verdict = await checkSignature(signed, header, deps.signing);
    if (!verdict.ok) return refuse(deps, name, { kind: 'unauthenticated', reason: verdict.reason });
    principal = verdict.principal;
  }
  let body: unknown;
  if (method === 'POST') {
    const parsed = parseJson(raw);
    if (!parsed.ok) return refuse(deps, name, parsed.refusal);
    const deep = depthRefusal(parsed.value);
    if (deep) return refuse(deps, name, deep);
    body = parsed.value;
  }
  // A session, or a 2026-07-28 request waiting for input, lives on the instance that made its id.
  const owned = header('mcp-session-id') ?? requestStateOf(body);
  const to = routeOf(deps.peers, owned, header(hopHeader));
  if (to.to === 'nowhere') return refuse(deps, name, { kind: 'unknown_session' });
  if (to.to === 'peer') {
    const target = { ...to, server: name, self: deps.peers?.self ?? '' };
    // The owner is gone: so is the session (404).
    return (await relayToPeer(request, raw, target, deps)) ?? refuse(deps, name, { kind: 'unknown_session' });
  }
  const outcome = await endpoint.handle(request, body, principal);
  if (!outcome.ok) return refuse(deps, name, outcome.refusal, outcome.id);
  return outcome.response;
}

function checkSignature(
  signed: { method: string; path: string; sessionId: string | undefined; body: Uint8Array },
  header: (name: string) => string | undefined,
  signing: NonNullable<HttpDeps['signing']>,
) {
  const nowSeconds = Date.now() / 1000;
  const seen = (nonce: string, expiresAt: number) => signing.nonces.seen(nonce, expiresAt, nowSeconds);
  return verify(signing.secret, signed, header, { nowSeconds, seen });
}

/** Refused, counted by reason; an oversized body is not read to its end, so the connection closes. */
export function refuse(
  deps: HttpDeps,
  server: string,
  refusal: Refusal,
  id: RequestId | null = null,
): Response {
  deps.metrics.rejected.inc({ server, reason: reasonOf(refusal) });
  return refusalResponse(refusal, id, refusal.kind === 'body_too_large' ? { connection: 'close' } : {});
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}
