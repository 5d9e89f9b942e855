import type { Quota, ServerDocument } from './document.ts';
import { anyMatches } from './glob.ts';
import type { Principal } from './policy.ts';

const windowMs = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/** One quota as it applies to one call: which rule, the tool it counts, and its window. */
export interface QuotaCharge {
  /** The rule's place in the document, and the tool: what the count is kept under. */
  key: string;
  limit: number;
  per: Quota['per'];
  /** The window the call falls in: milliseconds since the epoch, start inclusive, end exclusive. */
  windowStart: number;
  windowEnd: number;
}

/** Whether a rule that names principals and groups (none: everyone) speaks to this caller. */
export function appliesTo(rule: { principals: string[]; groups: string[] }, principal: Principal): boolean {
  if (rule.principals.length === 0 && rule.groups.length === 0) return true;
  return rule.principals.includes(principal.subject) || rule.groups.some((g) => principal.groups.includes(g));
}

/**
 * What one call of `tool` (its real name) by `principal` counts against: every quota of the
 * document that names the tool and applies to the caller. Windows are fixed (a minute, hour or
 * day from the epoch, UTC), so that every isolate agrees where one ends.
 */
export function chargesFor(
  doc: ServerDocument,
  principal: Principal,
  tool: string,
  now: number,
): QuotaCharge[] {
  return doc.quotas.flatMap((quota, index) => {
    if (!anyMatches(quota.tools, tool) || !appliesTo(quota, principal)) return [];
    const span = windowMs[quota.per];
    const windowStart = Math.floor(now / span) * span;
    return [
      {
        key: `${index}\n${tool}`,
        limit: quota.limit,
        per: quota.per,
        windowStart,
        windowEnd: windowStart + span,
      },
    ];
  });
}
