import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ServerConfig } from '../config.ts';
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
  return async () => {
    const url = new URL(t.url);
    const transport =
      t.type === 'streamable-http'
        ? new StreamableHTTPClientTransport(url, { requestInit })
        : new SSEClientTransport(url, { requestInit });
    await transport.start();
    return new Upstream(transport, server.name, deps);
  };
}
