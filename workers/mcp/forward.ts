import type { ServerDocument } from '../../shared/policy/document.ts';
import { pinsHeader, pinsHeaderValue } from '../../shared/policy/pins.ts';
import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import { refusalResponse } from '../../shared/protocol/refusal.ts';
import { modernHeaders } from '../../shared/protocol/revision.ts';
import { sign } from '../../shared/security/signing.ts';
import type { Env, Settings } from '../env.ts';
import { finish, misconfigured } from './meter.ts';
import type { Forwarded, McpRequest, Passage } from './passage.ts';
import { personalHeaders } from './personal.ts';
import { relay } from './relay.ts';

/** Headers a client sends that the bridge needs; nothing else crosses (no Authorization, no cookies). */
const forwardedRequestHeaders = [
  'content-type',
  'accept',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
];

/** The forward stage: the message as the gate passed it, signed for the bridge, sent, its answer relayed. */
export async function forward(
  x: McpRequest,
  passage: Passage,
  upstream: URL | undefined,
  body: Uint8Array | undefined,
  gate: Forwarded | undefined,
): Promise<Response> {
  const { request, settings } = x;
  if (upstream === undefined) {
    return misconfigured(x, passage, 'bridge.unconfigured', {
      server: x.server,
      fix: 'set BRIDGE_URL (wrangler.toml [vars]) to where the bridge serves /<server>/mcp',
    });
  }
  const headers = await signedHeaders(x, passage, upstream, body, gate);
  const personal = await personalHeaders(x, passage, headers, gate);
  if (personal instanceof Response) return personal;
  for (const [name, value] of personal) headers.set(name, value);
  let response: Response;
  try {
    response = await bridgeFetch(x.env, settings)(upstream, { method: request.method, headers, body });
  } catch (error) {
    console.error(
      JSON.stringify({ event: 'bridge.unreachable', server: x.server, error: String(error).slice(0, 200) }),
    );
    finish(x, passage, 'upstream_error', 0);
    return refusalResponse({ kind: 'upstream_unavailable' });
  }
  return relay(x, passage, response, gate);
}

async function signedHeaders(
  x: McpRequest,
  passage: Passage,
  upstream: URL,
  body: Uint8Array | undefined,
  gate: Forwarded | undefined,
): Promise<Headers> {
  const { request, settings } = x;
  const headers = new Headers();
  for (const name of forwardedRequestHeaders) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  const revision = passage.revision;
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
    passage.principal,
    Date.now() / 1000,
  );
  for (const [name, value] of Object.entries(signed)) headers.set(name, value);
  const pins = gate?.method === 'tools/list' ? pinsHeaderValue(passage.doc) : undefined;
  if (pins !== undefined) headers.set(pinsHeader, pins);
  return headers;
}

/**
 * How the edge reaches the cluster. A Workers VPC service binding (`BRIDGE`, over the
 * cloudflared tunnel, no public hostname) when wrangler.toml has one; otherwise the public
 * fetch to the document's upstream URL, with a Cloudflare Access service token when one is
 * configured (a tunnel public hostname behind Access). Our HMAC signature applies either way.
 */
export function bridgeFetch(env: Env, settings: Settings) {
  return (url: URL, init: RequestInit & { headers: Headers }): Promise<Response> => {
    if (settings.ACCESS_CLIENT_ID !== undefined && settings.ACCESS_CLIENT_SECRET !== undefined) {
      init.headers.set('cf-access-client-id', settings.ACCESS_CLIENT_ID);
      init.headers.set('cf-access-client-secret', settings.ACCESS_CLIENT_SECRET);
    }
    return env.BRIDGE !== undefined ? env.BRIDGE.fetch(url, init) : fetch(url, init);
  };
}

/** Where one server's request goes, with the query the client sent. */
export function targetOf(doc: ServerDocument, settings: Settings, url: URL): URL | undefined {
  const upstream = upstreamOf(doc, settings);
  if (upstream !== undefined) upstream.search = url.search;
  return upstream;
}

/**
 * Where this server's requests go: the document's own (deprecated) upstream URL, else the
 * environment's bridge at BRIDGE_URL/<name>/mcp; undefined when neither is configured.
 */
export function upstreamOf(doc: ServerDocument, settings: Settings): URL | undefined {
  if (doc.upstream !== undefined) return new URL(doc.upstream.url);
  return atBridge(settings, `${doc.name}/mcp`);
}

/** A path at the environment's bridge (BRIDGE_URL); undefined when none is configured. */
export function atBridge(settings: Settings, path: string): URL | undefined {
  if (settings.BRIDGE_URL === undefined) return undefined;
  const base = settings.BRIDGE_URL.endsWith('/') ? settings.BRIDGE_URL : `${settings.BRIDGE_URL}/`;
  return new URL(path, base);
}
