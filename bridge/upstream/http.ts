import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ServerConfig } from '../config.ts';
import type { Credential } from '../identity/credential.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { Upstream, type UpstreamFactory } from './upstream.ts';

type Remote = Extract<ServerConfig['transport'], { type: 'streamable-http' | 'sse' }>;

/** A client session with a remote server for each upstream, over Streamable HTTP or legacy SSE. */
export function httpFactory(
  server: ServerConfig,
  t: Remote,
  deps: { log: Logger; metrics: Metrics },
): UpstreamFactory {
  const requestInit = { headers: t.headers };
  return async (credential) => {
    const url = new URL(t.url);
    const options = { requestInit, ...(credential ? { fetch: asPerson(credential) } : {}) };
    const transport =
      t.type === 'streamable-http'
        ? new StreamableHTTPClientTransport(url, options)
        : new SSEClientTransport(url, options);
    await transport.start();
    return new Upstream(transport, server.name, { ...deps, credential });
  };
}

/** Each request as the person: their current token, read when it is sent (it may have been renewed). */
function asPerson(credential: Credential): typeof fetch {
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set('authorization', credential.authorization());
    const response = await fetch(input, { ...init, headers });
    // Revoked or expired early at the server: the person's next request comes with a new token.
    if (response.status === 401) credential.refusedByServer();
    return response;
  };
}
