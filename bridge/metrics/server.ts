import { createServer, type Server } from 'node:http';
import type { Metrics } from './metrics.ts';

/** `/metrics` on its own port, so that the scrape path is never exposed with the MCP endpoints. */
export function createMetricsServer(metrics: Metrics): Server {
  return createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are served at /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  });
}
