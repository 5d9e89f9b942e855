import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { portalName } from './portal/portal.ts';
import { type HttpDeps, refuse, route, serverOf } from './route.ts';

/**
 * The one adapter between Node's HTTP server and the bridge's Web-standard core (route.ts):
 * @hono/node-server's request listener, which also aborts a request's signal when its client
 * goes away, and streams an SSE body as it is written. It installs its lightweight Request and
 * Response as the globals (its default): a JSON answer is then written straight to the socket,
 * not read back through a stream. With the native ones, a 2026-07-28 call cost the bridge ~16%
 * more CPU than before the core was Web-standard; with these, the same (docs/performance.md).
 */
export function createMcpServer(deps: HttpDeps): Server {
  const fetch = (request: Request, node: HttpBindings | Http2Bindings) => {
    // An HTTP/1.1 server (createServer below): its bindings are Node's request and response.
    countBytesOut(node.incoming as IncomingMessage, node.outgoing as ServerResponse, deps);
    return route(request, deps).catch((error: Error) => {
      deps.log.log('error', 'request failed', { error: error.message });
      return refuse(deps, '', { kind: 'internal_error' });
    });
  };
  // A request line or Host Node accepts but a URL cannot hold: what Host is, is not served here.
  const errorHandler = () => refuse(deps, '', { kind: 'forbidden_host' });
  const server = createServer(getRequestListener(fetch, { errorHandler }));
  server.headersTimeout = 30_000;
  // Longer than any client's idle-connection pool (workerd's, a load balancer's), so that the
  // client closes an idle connection first: a server that closes it (Node's default: 5 s)
  // races the client reusing it, and that request is lost ("Network connection lost").
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0; // SSE streams are long-lived; idle sessions are reaped instead
  return server;
}

/**
 * Bytes written on the socket while this response was open (HTTP/1.1: one response at a time),
 * for a server the bridge serves: counted here, where the bytes are written, not on a copy of
 * the body.
 */
function countBytesOut(req: IncomingMessage, res: ServerResponse, deps: HttpDeps): void {
  const server = serverOf((req.url ?? '/').split('?')[0] ?? '/');
  if (server === undefined || !(deps.endpoints.has(server) || server === portalName)) return;
  const socket = req.socket;
  const before = socket.bytesWritten;
  res.once('close', () =>
    deps.metrics.bytes.inc({ server, direction: 'out' }, Math.max(0, socket.bytesWritten - before)),
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
