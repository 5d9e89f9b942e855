import type { Quota, ServerDocument } from '../shared/policy/document.ts';
import { anyMatches } from '../shared/policy/glob.ts';
import type { Row } from '../shared/storage/analytics.ts';
import { columns } from '../shared/storage/analytics.ts';

/**
 * `mcpgw usage --quotas`: each person's calls in the current window beside their quota, from
 * Analytics Engine. The edge's Durable Object holds the exact count; this reads the data
 * points (sampled at high volume, a few seconds behind) and says who is near their limit.
 */

const windowStart: Record<Quota['per'], string> = {
  minute: 'toStartOfMinute(NOW())',
  hour: 'toStartOfHour(NOW())',
  day: 'toStartOfDay(NOW())',
};

/** The calls each person made of each tool of one server in the current window of `per`. */
export function quotaSql(server: string, per: Quota['per'], dataset = 'mcp_gateway'): string {
  return [
    `SELECT ${columns.principal} AS principal, ${columns.name} AS tool, SUM(_sample_interval) AS used`,
    `FROM ${dataset}`,
    `WHERE ${columns.server} = '${server}' AND ${columns.method} = 'tools/call'`,
    // What the counter counted: every call the edge let through (a refused one was not).
    `  AND ${columns.status} != 'refused' AND timestamp >= ${windowStart[per]}`,
    'GROUP BY principal, tool',
    'LIMIT 10000',
  ].join('\n');
}

export interface QuotaUse {
  server: string;
  rule: number;
  principal: string;
  tool: string;
  used: number;
  limit: number;
  per: Quota['per'];
  /** Whom the rule names; a rule for groups applies only to their members (not in the data). */
  for: string;
}

function whom(quota: Quota): string {
  const named = [...quota.principals, ...quota.groups.map((g) => `group:${g}`)];
  return named.length === 0 ? 'everyone' : named.join(' ');
}

/** The rows of one server's window, set against each of its quotas of that window. */
export function quotaUse(doc: ServerDocument, per: Quota['per'], rows: Row[]): QuotaUse[] {
  return doc.quotas.flatMap((quota, rule) => {
    if (quota.per !== per) return [];
    return rows.flatMap((row) => {
      const principal = String(row.principal ?? '');
      const tool = String(row.tool ?? '');
      if (!anyMatches(quota.tools, tool)) return [];
      if (quota.groups.length === 0 && quota.principals.length > 0 && !quota.principals.includes(principal))
        return [];
      const used = Number(row.used ?? 0);
      return [{ server: doc.name, rule, principal, tool, used, limit: quota.limit, per, for: whom(quota) }];
    });
  });
}

/** The servers' quota windows to ask for: one query per server and window length. */
export function quotaWindows(docs: ServerDocument[], server?: string): [ServerDocument, Quota['per']][] {
  return docs
    .filter((doc) => server === undefined || doc.name === server)
    .flatMap((doc) =>
      [...new Set(doc.quotas.map((q) => q.per))].map((per): [ServerDocument, Quota['per']] => [doc, per]),
    );
}
