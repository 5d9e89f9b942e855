import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';

/**
 * Sessions across bridge instances (StatefulSet pods): a session id starts with the name of
 * the instance that owns it, and an instance that receives a request for another's session
 * passes it to that one, so that any load balancer in front works.
 */

/** Set on a forwarded request: the receiver serves it itself or refuses it, never forwards it again. */
export const hopHeader = 'x-mcp-bridge-hop';

/** The only shape of session id this bridge makes: `<instance>.<uuid>`. */
const sessionShape = /^([A-Za-z0-9-]{1,63})\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface Peers {
  self: string;
  /** Where another instance listens (its base URL), if it is one this bridge knows of. */
  baseOf(instance: string): string | undefined;
}

/** From the config: a URL template (`http://{instance}.<headless service>:8080`) or a fixed list. */
export function peersFrom(
  self: string,
  config: { url?: string; instances?: Record<string, string> } | undefined,
): Peers | undefined {
  if (config === undefined) return undefined;
  const { url, instances } = config;
  return {
    self,
    baseOf: (instance) => (url !== undefined ? url.replace('{instance}', instance) : instances?.[instance]),
  };
}

/** The instance that made this session id, if it is one of ours. */
export function ownerOf(sessionId: string): string | undefined {
  return sessionShape.exec(sessionId)?.[1];
}

/** Where a request for this session must go: `self`, another instance's base URL, or nowhere. */
export function routeOf(
  peers: Peers | undefined,
  sessionId: string | undefined,
  hop: string | undefined,
): { to: 'self' } | { to: 'peer'; owner: string; base: string } | { to: 'nowhere' } {
  if (peers === undefined || sessionId === undefined) return { to: 'self' };
  const owner = ownerOf(sessionId);
  if (owner === undefined || owner === peers.self) return { to: 'self' };
  const base = peers.baseOf(owner);
  if (hop !== undefined || base === undefined) return { to: 'nowhere' };
  return { to: 'peer', owner, base };
}

const hopByHop = new Set([
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'upgrade',
]);

function requestHeaders(request: Request, self: string): Headers {
  const headers = new Headers();
  for (const [name, value] of request.headers) if (!hopByHop.has(name)) headers.set(name, value);
  headers.set(hopHeader, self);
  return headers;
}

/**
 * Relays one request (body already read) to the owning instance; its answer streams back, SSE
 * included. The owner checks the edge's signature again. Undefined if the owner cannot be reached.
 */
export async function relayToPeer(
  request: Request,
  raw: Uint8Array,
  target: { owner: string; base: string; self: string; server: string },
  deps: { log: Logger; metrics: Metrics },
): Promise<Response | undefined> {
  const url = new URL(request.url);
  let answer: Response;
  try {
    answer = await fetch(new URL(url.pathname + url.search, target.base), {
      method: request.method,
      headers: requestHeaders(request, target.self),
      body: request.method === 'POST' ? raw : undefined,
      signal: request.signal,
      redirect: 'manual',
    });
  } catch (error) {
    deps.metrics.forwarded.inc({ server: target.server, outcome: 'unreachable' });
    deps.log.log('warn', 'session owner unreachable', {
      owner: target.owner,
      error: (error as Error).message,
    });
    return undefined;
  }
  deps.metrics.forwarded.inc({ server: target.server, outcome: 'relayed' });
  const headers = new Headers();
  for (const [name, value] of answer.headers) if (!hopByHop.has(name)) headers.set(name, value);
  return new Response(answer.body, { status: answer.status, headers });
}
