import type { ServerDocument } from '../../shared/policy/document.ts';
import type { Env, Settings } from '../env.ts';

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

/**
 * Where this server's requests go: the document's own (deprecated) upstream URL, else the
 * environment's bridge at BRIDGE_URL/<name>/mcp; undefined when neither is configured.
 */
export function upstreamOf(doc: ServerDocument, settings: Settings): URL | undefined {
  if (doc.upstream !== undefined) return new URL(doc.upstream.url);
  if (settings.BRIDGE_URL === undefined) return undefined;
  const base = settings.BRIDGE_URL.endsWith('/') ? settings.BRIDGE_URL : `${settings.BRIDGE_URL}/`;
  return new URL(`${doc.name}/mcp`, base);
}
