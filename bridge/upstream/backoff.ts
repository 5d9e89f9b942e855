const maxDelayMs = 30_000;
const firstDelayMs = 250;
const crashLoopFailures = 3;

/**
 * A command that keeps failing is not spawned for every request: each consecutive failure
 * doubles the rest (250 ms to 30 s), and three in a row mark it crash-looping. One success
 * clears it. Used by every supply of children: the warm pool and the leases.
 */
export class Backoff {
  private failures = 0;
  private retryAt = 0;

  /** The rest before the next try, counted from now. */
  failed(now = Date.now()): number {
    this.failures += 1;
    const delay = Math.min(maxDelayMs, firstDelayMs * 2 ** (this.failures - 1));
    this.retryAt = now + delay;
    return delay;
  }

  succeeded(): void {
    this.failures = 0;
  }

  /** True while children keep dying before they are used (the command is broken). */
  get crashLooping(): boolean {
    return this.failures >= crashLoopFailures;
  }

  /** Crash-looping and still within its rest: spawn nothing now. */
  resting(now = Date.now()): boolean {
    return this.crashLooping && now < this.retryAt;
  }
}
