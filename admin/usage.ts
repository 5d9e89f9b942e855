import { columns, defaultApiBaseUrl, type Row, type SqlApi } from '../shared/storage/analytics.ts';
import { UsageError } from './options.ts';
/**
 * `mcpgw usage`: what the gateway did, from Workers Analytics Engine's SQL API. The column
 * layout is docs/analytics.md; the SQL is built here from validated options only (no
 * client-supplied text reaches it unchecked).
 */

export type By = 'server' | 'tool' | 'principal' | 'decision' | 'portal';

export interface UsageQuery {
  since: string;
  server?: string;
  by: By;
  dataset?: string;
}

const byColumn: Record<By, string> = {
  server: columns.server,
  tool: columns.name,
  principal: columns.principal,
  decision: columns.decision,
  portal: columns.portal,
};
const units: Record<string, string> = { m: 'MINUTE', h: 'HOUR', d: 'DAY' };

export function buildSql(query: UsageQuery): string {
  const since = /^(\d{1,4})([mhd])$/.exec(query.since);
  if (!since) throw new UsageError(`--since: "${query.since}" is not like 90m, 24h or 7d`);
  if (query.server !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(query.server)) {
    throw new UsageError(`--server: "${query.server}" is not a server name`);
  }
  if (!(query.by in byColumn)) throw new UsageError(`--by: one of ${Object.keys(byColumn).join(', ')}`);
  const dataset = query.dataset ?? 'mcp_gateway';
  if (!/^[a-z_][a-z0-9_]*$/.test(dataset))
    throw new UsageError(`dataset: "${dataset}" is not a dataset name`);
  const where = [`timestamp > NOW() - INTERVAL '${since[1]}' ${units[since[2] as string]}`];
  if (query.server !== undefined) where.push(`${columns.server} = '${query.server}'`);
  if (query.by === 'tool') where.push(`${columns.method} = 'tools/call'`);
  return [
    `SELECT ${byColumn[query.by]} AS ${query.by},`,
    '  SUM(_sample_interval) AS messages,',
    `  SUM(IF(${columns.status} = 'refused', _sample_interval, 0)) AS refused,`,
    `  SUM(IF(${columns.status} = 'error', _sample_interval, 0)) AS errors,`,
    `  SUM(_sample_interval * ${columns.durationMs}) / SUM(_sample_interval) AS avg_ms`,
    `FROM ${dataset}`,
    `WHERE ${where.join(' AND ')}`,
    `GROUP BY ${query.by}`,
    'ORDER BY messages DESC',
    'LIMIT 100',
  ].join('\n');
}

export function sqlApiFromEnv(env: NodeJS.ProcessEnv): SqlApi {
  const accountId = env.CLOUDFLARE_ACCOUNT_ID;
  const token = env.CLOUDFLARE_API_TOKEN;
  if (!accountId || !token) {
    throw new UsageError(
      'usage reads Analytics Engine: set CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (Account Analytics: Read)',
    );
  }
  return { accountId, token, baseUrl: env.CLOUDFLARE_API_BASE_URL ?? defaultApiBaseUrl };
}

export function table(rows: Row[]): string {
  if (rows.length === 0) return '(no data in that window)';
  const keys = Object.keys(rows[0] as Row);
  const cells = rows.map((row) =>
    keys.map((k) =>
      typeof row[k] === 'number' ? String(Math.round((row[k] as number) * 100) / 100) : String(row[k] ?? ''),
    ),
  );
  const widths = keys.map((k, i) => Math.max(k.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ');
  return [line(keys), ...cells.map(line)].join('\n');
}
