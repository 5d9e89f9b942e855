/**
 * Workers Analytics Engine's SQL API: what `mcpgw usage` reads, and what the bridge polls to
 * show the edge's refusals to the cluster's Prometheus. The column layout is docs/analytics.md.
 */
export const columns = {
  server: 'blob1',
  method: 'blob2',
  tool: 'blob3',
  decision: 'blob4',
  principal: 'blob5',
  status: 'blob6',
  durationMs: 'double1',
} as const;

export const defaultApiBaseUrl = 'https://api.cloudflare.com/client/v4';

export interface SqlApi {
  accountId: string;
  token: string;
  /** https://api.cloudflare.com/client/v4 unless overridden (a stand-in in tests). */
  baseUrl: string;
}

export class SqlApiError extends Error {}

export type Row = Record<string, string | number | null>;

export async function runSql(api: SqlApi, sql: string, fetcher: typeof fetch = fetch): Promise<Row[]> {
  const url = `${api.baseUrl}/accounts/${encodeURIComponent(api.accountId)}/analytics_engine/sql`;
  const response = await fetcher(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${api.token}`, 'content-type': 'text/plain' },
    body: sql,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new SqlApiError(`the SQL API answered ${response.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as { data?: Row[] };
  return body.data ?? [];
}
