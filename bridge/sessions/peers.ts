import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
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

function requestHeaders(req: IncomingMessage, self: string): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || hopByHop.has(name)) continue;
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  headers.set(hopHeader, self);
  return headers;
}

/**
 * Relays one request (body already read) to the owning instance and streams its answer back,
 * SSE included. The owner checks the edge's signature again. False if the owner cannot be reached.
 */
export async function relayToPeer(
  req: IncomingMessage,
  res: ServerResponse,
  raw: Buffer,
  target: { owner: string; base: string; self: string; server: string },
  deps: { log: Logger; metrics: Metrics },
): Promise<boolean> {
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  let answer: Response;
  try {
    answer = await fetch(new URL(req.url ?? '/', target.base), {
      method: req.method,
      headers: requestHeaders(req, target.self),
      body: req.method === 'POST' ? new Uint8Array(raw) : undefined,
      signal: abort.signal,
      redirect: 'manual',
    });
  } catch (error) {
    deps.metrics.forwarded.inc({ server: target.server, outcome: 'unreachable' });
    deps.log.log('warn', 'session owner unreachable', {
      owner: target.owner,
      error: (error as Error).message,
    });
    return false;
  }
  deps.metrics.forwarded.inc({ server: target.server, outcome: 'relayed' });
  const headers: Record<string, string> = {};
  answer.headers.forEach((value, name) => {
    if (!hopByHop.has(name)) headers[name] = value;
  });
  res.writeHead(answer.status, headers);
  if (answer.body === null) {
    res.end();
    return true;
  }
  Readable.fromWeb(answer.body as import('node:stream/web').ReadableStream)
    .on('error', () => res.end())
    .pipe(res);
  return true;
}
