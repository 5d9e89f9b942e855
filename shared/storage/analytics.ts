/**
 * The Analytics Engine data point, declared once: the Worker writes one per JSON-RPC message
 * (`dataPointOf`); `mcpgw usage` and the bridge's poll of the edge's refusals read it through
 * the SQL API (`columns`). The layout is a storage format: docs/analytics.md, and a new
 * dataset for any change of order.
 */

/** In blob order: blob1 is `server`, blob2 `method`, and so on. */
const blobFields = [
  'server',
  'method',
  /** Tool, prompt or resource name, when the message names one. */
  'name',
  /** `allowed`, or the refusal's reason (shared/protocol/refusal.ts `reasonOf`). */
  'decision',
  'principal',
  /** success | error | refused | upstream_error */
  'status',
  'protocolVersion',
  'authMethod',
  /** The portal the message came through: `/mcp`, or a named portal's name; empty at a server's own URL. */
  'portal',
  /**
   * The name as the client called it, when it is not `name`: a portal's `<server>__<tool>`, a
   * renamed tool's new name; empty otherwise.
   */
  'exposed',
] as const;
/** In double order: double1 is `durationMs`. */
const doubleFields = ['durationMs', 'requestBytes', 'responseBytes'] as const;

type BlobField = (typeof blobFields)[number];
type DoubleField = (typeof doubleFields)[number];

/** What the edge records of one message: one Analytics Engine row. */
export type MessageRecord = Record<BlobField, string> & Record<DoubleField, number>;

/** The shape `writeDataPoint` takes (workers-types' AnalyticsEngineDataPoint, which the bridge does not load). */
export interface DataPoint {
  indexes: string[];
  blobs: string[];
  doubles: number[];
}

export function dataPointOf(record: MessageRecord): DataPoint {
  return {
    indexes: [record.server],
    blobs: blobFields.map((field) => record[field]),
    doubles: doubleFields.map((field) => record[field]),
  };
}

/** Each field's SQL column: `columns.name` is `blob3`. */
export const columns = Object.fromEntries([
  ...blobFields.map((field, i) => [field, `blob${i + 1}`]),
  ...doubleFields.map((field, i) => [field, `double${i + 1}`]),
]) as Record<BlobField | DoubleField, string>;

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
