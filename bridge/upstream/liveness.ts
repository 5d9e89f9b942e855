import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';

type Id = string | number;

/**
 * Tells a busy child from a wedged one. While requests wait for an answer and the child has said
 * nothing for `quietMs`, it gets a ping; a child that answers that is alive, however long its
 * work takes (its event loop is free). One that does not answer within another `quietMs` has
 * stopped reading or is stuck: `onWedged` runs once, so that its sessions fail now, not at
 * the request timeout, and a shared server gets a new child.
 */
export class Liveness {
  private readonly awaiting = new Set<Id>();
  private lastHeard = Date.now();
  private probe: { id: string; sentAt: number } | undefined;
  private probes = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly quietMs: number;
  private readonly ping: (id: string) => void;
  private readonly onWedged: () => void;

  constructor(quietMs: number, ping: (id: string) => void, onWedged: () => void) {
    this.quietMs = quietMs;
    this.ping = ping;
    this.onWedged = onWedged;
    this.timer = setInterval(() => this.check(), Math.max(50, quietMs / 4));
    this.timer.unref();
  }

  sent(message: JSONRPCMessage): void {
    if ('method' in message && 'id' in message) this.awaiting.add(message.id as Id);
  }

  /** True for the answer to our own ping, which is nobody else's business. */
  heard(message: JSONRPCMessage): boolean {
    this.lastHeard = Date.now();
    if ('method' in message || !('id' in message)) return false;
    if (this.probe !== undefined && message.id === this.probe.id) {
      this.probe = undefined;
      return true;
    }
    this.awaiting.delete(message.id as Id);
    return false;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    const now = Date.now();
    if (this.awaiting.size === 0) {
      this.probe = undefined;
      return;
    }
    if (this.probe !== undefined) {
      if (now - this.probe.sentAt < this.quietMs) return;
      this.stop();
      this.onWedged();
    } else if (now - this.lastHeard >= this.quietMs) {
      this.probe = { id: `bridge-liveness-${++this.probes}`, sentAt: now };
      this.ping(this.probe.id);
    }
  }
}
