import { chargesFor } from '../../shared/policy/quota.ts';
import type { Refusal } from '../../shared/protocol/refusal.ts';
import { misconfigured } from './meter.ts';
import type { McpRequest, Passage } from './passage.ts';

/**
 * The quota stage, for a tool call the gate let through: counted against the caller's quotas
 * in its server's document (a Durable Object per person and server keeps the counts), or
 * refused once one is used up. A document with quotas on an edge without the binding fails
 * closed: the limit would otherwise silently not exist.
 */
export async function overQuota(
  x: McpRequest,
  passage: Passage,
  tool: string,
): Promise<Refusal | Response | undefined> {
  const charges = chargesFor(passage.doc, passage.principal, tool, Date.now());
  if (charges.length === 0) return undefined;
  const quotas = x.env.QUOTAS;
  if (quotas === undefined) {
    return misconfigured(x, passage, 'quota.unconfigured', {
      server: passage.doc.name,
      fix: 'bind the QuotaCounter Durable Object as QUOTAS (wrangler.toml durable_objects)',
    });
  }
  const counter = quotas.get(quotas.idFromName(`${passage.doc.name}\n${passage.principal.subject}`));
  const taken = await counter.take(charges);
  if (taken.ok) return undefined;
  const { limit, per } = taken.charge;
  return {
    kind: 'quota_exceeded',
    server: passage.doc.name,
    tool,
    limit,
    per,
    retryAfterSeconds: taken.retryAfterSeconds,
  };
}
