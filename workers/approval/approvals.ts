import { DurableObject } from 'cloudflare:workers';

const dayMs = 86_400_000;
const maxEarly = 100;

/**
 * What a person's approvals need across isolates (docs/server-documents.md#confirm): a Durable
 * Object per person and server holds the one-time approvals already spent (2026-07-28), and
 * meets a question with its answer (2025-11-25: the question goes out on one request's
 * stream, the answer comes back in another POST, which may reach another isolate). One per
 * session, named for it, remembers what the client declared it can do at initialize.
 */
export class Approvals extends DurableObject {
  private readonly waiting = new Map<string, (answer: unknown) => void>();
  /** Answers that came before anyone waited for them (a fast client). */
  private readonly early = new Map<string, unknown>();

  /** Spends a one-time approval; false when it was spent before. */
  async spend(nonce: string, expiresAt: number): Promise<boolean> {
    const key = `spent:${nonce}`;
    if ((await this.ctx.storage.get(key)) !== undefined) return false;
    await this.ctx.storage.put(key, expiresAt);
    await this.prune('spent:', (value) => (value as number) < Date.now());
    return true;
  }

  /** The person's answer to question `id`, or undefined after `ms`. */
  answerTo(id: string, ms: number): Promise<unknown> {
    if (this.early.has(id)) {
      const answer = this.early.get(id);
      this.early.delete(id);
      return Promise.resolve(answer);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, ms);
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(answer);
      });
    });
  }

  /** The answer to question `id`, from whichever isolate the client's POST reached. */
  async answer(id: string, answer: unknown): Promise<void> {
    const waiter = this.waiting.get(id);
    if (waiter !== undefined) waiter(answer);
    else if (this.early.size < maxEarly) this.early.set(id, answer);
  }

  /** A session's client capabilities, as it declared them at initialize. */
  async remember(capabilities: Record<string, unknown>): Promise<void> {
    await this.ctx.storage.put('capabilities', { capabilities, at: Date.now() });
    await this.ctx.storage.setAlarm(Date.now() + dayMs);
  }

  async capabilities(): Promise<Record<string, unknown> | undefined> {
    const kept = await this.ctx.storage.get<{ capabilities: Record<string, unknown> }>('capabilities');
    return kept?.capabilities;
  }

  /** A day after its initialize, a session's record goes (sessions end long before). */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }

  private async prune(prefix: string, expired: (value: unknown) => boolean): Promise<void> {
    const entries = await this.ctx.storage.list({ prefix, limit: 1000 });
    const gone = [...entries].filter(([, value]) => expired(value)).map(([key]) => key);
    if (gone.length > 0) await this.ctx.storage.delete(gone);
  }
}
