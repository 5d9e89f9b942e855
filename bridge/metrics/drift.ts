import { type Definition, definitionDigest, shortDigest } from '../../shared/policy/pins.ts';
import type { KnownNames, Metrics } from './metrics.ts';

/**
 * The bridge's half of pinning: on a `tools/list` the edge forwarded with its document's pins
 * (shared/policy/pins.ts `pinsHeader`), each listed tool whose definition matches no pin is
 * counted, so that the cluster's Prometheus sees a server change what it offers. The edge
 * holds such tools back; this only counts.
 */
export async function countDrift(
  ctx: { config: { name: string }; metrics: Metrics; names: KnownNames },
  pins: ReadonlySet<string>,
  result: Record<string, unknown> | undefined,
): Promise<void> {
  const tools = Array.isArray(result?.tools) ? (result.tools as Partial<Definition>[]) : [];
  for (const tool of tools.slice(0, 5000)) {
    if (typeof tool.name !== 'string') continue;
    const digest = shortDigest(await definitionDigest(tool as Definition));
    if (pins.has(digest)) continue;
    ctx.metrics.toolDrift.inc({ server: ctx.config.name, tool: ctx.names.bound('tools/list', tool.name) });
  }
}
