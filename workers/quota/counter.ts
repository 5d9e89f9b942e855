import { DurableObject } from 'cloudflare:workers';
import type { QuotaCharge } from '../../shared/policy/quota.ts';

interface Count {
  windowStart: number;
  count: number;
}

export type Taken = { ok: true } | { ok: false; charge: QuotaCharge; retryAfterSeconds: number };

/**
 * One person's calls at one server, counted exactly: a Durable Object per person and server
 * (named for both), whose storage operations run one request at a time, so that the limit is
 * hit at the configured count however many isolates the person's calls land on. One entry per
 * rule and tool, holding the current window's count: what it stores stays as small as the list
 * of tools.
 */
export class QuotaCounter extends DurableObject {
  /** Counts the call against every charge, or against none when one is used up. */
  async take(charges: QuotaCharge[]): Promise<Taken> {
    const storage = this.ctx.storage;
    const counts = await storage.get<Count>(charges.map((charge) => charge.key));
    const used = (charge: QuotaCharge) => {
      const current = counts.get(charge.key);
      return current?.windowStart === charge.windowStart ? current.count : 0;
    };
    const exhausted = charges.find((charge) => used(charge) >= charge.limit);
    if (exhausted !== undefined) {
      const retryAfterSeconds = Math.max(1, Math.ceil((exhausted.windowEnd - Date.now()) / 1000));
      return { ok: false, charge: exhausted, retryAfterSeconds };
    }
    const next: Record<string, Count> = {};
    for (const charge of charges)
      next[charge.key] = { windowStart: charge.windowStart, count: used(charge) + 1 };
    await storage.put(next);
    return { ok: true };
  }
}
