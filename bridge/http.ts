import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { type HttpDeps, refuse, route } from './route.ts';

/**
 * The one adapter between Node's HTTP server and the bridge's Web-standard core (route.ts):
 * @hono/node-server's request listener, which also aborts a request's signal when its client
 * goes away, and streams an SSE body as it is written.
 */
export function createMcpServer(deps: HttpDeps): Server {
  const fetch = (request: Request) =>
    route(request, deps).catch((error: Error) => {
      deps.log.log('error', 'request failed', { error: error.message });
      return refuse(deps, '', { kind: 'internal_error' });
    });
  // A request line or Host Node accepts but a URL cannot hold: what Host is, is not served here.
  const errorHandler = () => refuse(deps, '', { kind: 'forbidden_host' });
  const server = createServer(getRequestListener(fetch, { overrideGlobalObjects: false, errorHandler }));
  server.headersTimeout = 30_000;
  // Longer than any client's idle-connection pool (workerd's, a load balancer's), so that the
  // client closes an idle connection first: a server that closes it (Node's default: 5 s)
  // races the client reusing it, and that request is lost ("Network connection lost").
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0; // SSE streams are long-lived; idle sessions are reaped instead
  return server;
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
