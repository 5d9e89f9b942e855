/**
 * Nonces seen within the signature window, so that a captured request cannot be replayed.
 * Bounded: expired entries are dropped as new ones arrive, and past `capacity` the oldest go
 * (a nonce older than the window is refused as stale anyway).
 */
export class NonceCache {
  private readonly expiries = new Map<string, number>();
  private readonly capacity: number;

  constructor(capacity = 200_000) {
    this.capacity = capacity;
  }

  /** Records the nonce; true if it was already there (a replay). */
  seen(nonce: string, expiresAtSeconds: number, nowSeconds: number): boolean {
    const known = this.expiries.get(nonce);
    if (known !== undefined && known >= nowSeconds) return true;
    this.expiries.set(nonce, expiresAtSeconds);
    this.prune(nowSeconds);
    return false;
  }

  private prune(nowSeconds: number): void {
    for (const [nonce, expiry] of this.expiries) {
      if (expiry >= nowSeconds && this.expiries.size <= this.capacity) return;
      this.expiries.delete(nonce);
    }
  }
}
