import { Counter, Gauge, type Registry } from 'prom-client';
import { columns, runSql, type SqlApi } from '../../shared/storage/analytics.ts';
import type { Logger } from '../log.ts';

/**
 * Calls the edge refused never reach the cluster, yet the cluster's Prometheus should see a
 * spike of them (the lab's security-monitoring case: many pods_delete attempts). The bridge
 * asks Analytics Engine for the refused tools/call counts of the last window and exports
 * them as a gauge. Bounded: the top rows only, names cut to a label-safe shape.
 */

export interface EdgeRefusalsConfig {
  api: SqlApi;
  dataset: string;
  intervalSeconds: number;
  windowMinutes: number;
}

const maxRows = 50;

export function refusalsSql(dataset: string, windowMinutes: number): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(dataset)) throw new Error(`dataset "${dataset}" is not a dataset name`);
  const minutes = Math.max(1, Math.min(1440, Math.floor(windowMinutes)));
  return [
    `SELECT ${columns.server} AS server, ${columns.name} AS tool, ${columns.decision} AS decision,`,
    '  SUM(_sample_interval) AS calls',
    `FROM ${dataset}`,
    `WHERE timestamp > NOW() - INTERVAL '${minutes}' MINUTE`,
    `  AND ${columns.method} = 'tools/call' AND ${columns.status} = 'refused'`,
    'GROUP BY server, tool, decision',
    'ORDER BY calls DESC',
    `LIMIT ${maxRows}`,
  ].join('\n');
}

/** A label value the client chose (the tool name): printable, short, or `other`. */
function safe(value: unknown): string {
  const text = String(value ?? '');
  return /^[\x21-\x7e]{1,128}$/.test(text) ? text : 'other';
}

export function startEdgeRefusals(config: EdgeRefusalsConfig, registry: Registry, log: Logger): () => void {
  const refused = new Gauge({
    name: 'mcp_edge_refused_tool_calls',
    help: `tools/call refused by the edge's policy in the last window (from Analytics Engine)`,
    labelNames: ['server', 'tool', 'decision'] as const,
    registers: [registry],
  });
  const polls = new Counter({
    name: 'mcp_edge_analytics_polls_total',
    help: 'Queries to the Analytics Engine SQL API, by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const sql = refusalsSql(config.dataset, config.windowMinutes);
  const poll = async () => {
    try {
      const rows = await runSql(config.api, sql);
      refused.reset();
      for (const row of rows.slice(0, maxRows)) {
        refused.inc(
          { server: safe(row.server), tool: safe(row.tool), decision: safe(row.decision) },
          Number(row.calls) || 0,
        );
      }
      polls.inc({ outcome: 'ok' });
    } catch (error) {
      polls.inc({ outcome: 'error' });
      log.log('warn', 'edge analytics poll failed', { error: (error as Error).message });
    }
  };
  void poll();
  const timer = setInterval(poll, config.intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
