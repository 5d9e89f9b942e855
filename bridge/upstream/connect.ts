import type { ServerConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { httpFactory } from './http.ts';
import type { MemoryBudget } from './memory.ts';
import { stdioFactory } from './stdio.ts';
import type { UpstreamFactory } from './upstream.ts';

/** How one server's upstreams are made: a file per transport. */
export function upstreamFactory(
  server: ServerConfig,
  log: Logger,
  metrics: Metrics,
  memory?: MemoryBudget,
): UpstreamFactory {
  const t = server.transport;
  return t.type === 'stdio'
    ? stdioFactory(server, t, { log, metrics, memory })
    : httpFactory(server, t, { log, metrics });
}
