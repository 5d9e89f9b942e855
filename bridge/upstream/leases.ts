import { availableParallelism } from 'node:os';
import { type JSONRPCMessage, kindOf, type RequestId } from '../../shared/protocol/jsonrpc.ts';
import type { Person } from '../identity/identity.ts';
import type { Logger } from '../log.ts';
import type { LeaseCounts } from '../metrics/metrics.ts';
import { answerUnasked, type Child, isBroadcast } from './child.ts';
import type { Supply } from './supply.ts';

const leaseWaitMs = 10_000;
const growAfterMs = 50;

export class Busy extends Error {}

interface Waiter {
  readonly owner: string | undefined;
  readonly take: (child: Child | Error) => void;
}

/**
 * Children for 2026-07-28 clients, which bring no session: each request leases one initialized
 * child for as long as it runs (and while it waits for input), so that a server's question
 * reaches the one client whose request asked it. Children are reused, never shared at once.
 *
 * With `bind` (isolated mode) a child belongs to the first person it serves, for its lifetime:
 * their later requests reuse it, nobody else's ever do, so what a server remembers about its
 * client stays with that client. Children that have served no one go to anyone. The bridge's own
 * look-ups (no owner: the tool list behind `Mcp-Param-*` checks) may borrow any idle child; they
 * carry nothing of a person, and the child stays its owner's. Without `bind` (shared mode: the
 * admin declared the server stateless) any idle child serves any request.
 */
export class ChildLeases {
  private readonly idle: Child[] = [];
  private readonly waiters: Waiter[] = [];
  /** How many live children each person holds (isolated mode). */
  private readonly held = new Map<string, number>();
  /** When a child of each owner (undefined: of no one yet) was last freed. */
  private readonly freed = new Map<string | undefined, number>();
  private total = 0;
  /** Counted in `total` from their spawn, but not leased before they are ready. */
  private starting = 0;
  private lastInit: Record<string, unknown> | undefined;
  private state: 'open' | 'closed' = 'open';
  private readonly supply: Supply;
  private readonly max: number;
  private readonly keep: number;
  private readonly bind: boolean;
  /** Starts at once beyond the CPUs only slow each other down, and the first child waited for arrives later. */
  private readonly startsAtOnce: number;
  private readonly log: Logger;
  /** Whether memory allows one more child (the bridge's budget). */
  private readonly roomForOne: () => boolean;
  /** Server notifications that concern every client (list changes), whichever child sent them. */
  onBroadcast: ((message: JSONRPCMessage & { method: string }) => void) | undefined;
  /** Told how many children are in each state, whenever that may have changed. */
  onCount: ((counts: LeaseCounts) => void) | undefined;

  /** Each child is started for one person, with their credential: no spares, none for the bridge itself. */
  private readonly personal: boolean;

  constructor(
    supply: Supply,
    options: {
      max: number;
      keep: number;
      bind: boolean;
      log: Logger;
      roomForOne?: () => boolean;
      personal?: boolean;
      startsAtOnce?: number;
    },
  ) {
    this.supply = supply;
    this.personal = options.personal ?? false;
    this.roomForOne = options.roomForOne ?? (() => true);
    this.max = options.max;
    this.keep = this.personal ? 0 : options.keep;
    this.bind = options.bind;
    this.startsAtOnce = options.startsAtOnce ?? availableParallelism();
    this.log = options.log;
  }

  /** The initialize result of a child: what `server/discover` answers from (the bridge's own look-up). */
  async initResult(owner?: string, person?: Person): Promise<Record<string, unknown>> {
    if (this.lastInit) return this.lastInit;
    const child = await this.acquire(owner, person);
    this.release(child);
    return child.init;
  }

  /**
   * A child for one request of `owner`: an idle one that served them, else one that served no
   * one, else a new one. No owner: the bridge's own request.
   */
  async acquire(owner?: string, person?: Person): Promise<Child> {
    if (this.state === 'closed') throw new Busy('closing');
    // The pool's children are started once stateless clients show up, not before.
    if (this.total < this.keep) setTimeout(() => this.fill(), 0).unref();
    const idle = this.takeIdle(owner);
    this.count();
    if (idle) return this.fresh(this.bindTo(idle, owner), person);
    if (this.total < this.keep || this.newcomer(owner)) return this.bindTo(await this.start(person), owner);
    return this.fresh(await this.wait(owner, person), person);
  }

  /** A person's child that served them before: its credential made fresh for this request. */
  private async fresh(child: Child, person: Person | undefined): Promise<Child> {
    const credential = child.upstream.credential;
    if (person === undefined || credential === undefined) return child;
    try {
      await person.freshen(credential);
      return child;
    } catch (error) {
      this.release(child);
      throw error;
    }
  }

  /**
   * Someone no busy child will ever serve, with no spare on its way: waiting for one to be freed
   * is pointless, so their child starts at once.
   */
  private newcomer(owner: string | undefined): boolean {
    const nobodyFrees = this.bind && owner !== undefined && !this.held.has(owner);
    return nobodyFrees && this.starting === 0 && this.growable && !this.resting();
  }

  /** Below the count limit and the memory limit: an idle child kept for someone else need not end. */
  private get growable(): boolean {
    return this.total < this.max && this.roomForOne();
  }

  /** Whether a child may serve a request of `owner`. */
  private serves(child: Child, owner: string | undefined): boolean {
    return !this.bind || owner === undefined || child.owner === undefined || child.owner === owner;
  }

  /** The idle child most recently used by this person, else the most recent one it may have. */
  private takeIdle(owner: string | undefined): Child | undefined {
    let index = owner === undefined || !this.bind ? -1 : this.idle.findLastIndex((c) => c.owner === owner);
    if (index === -1) index = this.idle.findLastIndex((c) => this.serves(c, owner));
    return index === -1 ? undefined : this.idle.splice(index, 1)[0];
  }

  private bindTo(child: Child, owner: string | undefined): Child {
    if (this.bind && owner !== undefined && child.owner === undefined) {
      child.owner = owner;
      this.held.set(owner, (this.held.get(owner) ?? 0) + 1);
    }
    return child;
  }

  private count(): void {
    const bound = this.idle.filter((c) => c.owner !== undefined).length;
    this.onCount?.({
      spare: this.idle.length - bound,
      leased: this.total - this.starting - this.idle.length,
      bound,
      owners: this.held.size,
      waiting: this.waiters.length,
    });
  }

  /**
   * Every child this request may have is busy: a child freed within a few milliseconds is worth
   * more than a spawn (hundreds), so a request waits a moment before the pool grows by one for it.
   * At the limit, an idle child kept for someone else ends, and its exit makes room.
   */
  private wait(owner: string | undefined, person?: Person): Promise<Child> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index !== -1) this.waiters.splice(index, 1);
        this.count();
        reject(new Busy(this.roomForOne() ? 'every child is busy' : 'the bridge is near its memory limit'));
      }, leaseWaitMs);
      let grow: NodeJS.Timeout;
      let checked = Date.now();
      const growSoon = () => {
        grow = setTimeout(() => {
          if (!this.waiters.includes(waiter) || this.resting()) return;
          const moved = this.freedSince(owner, checked);
          checked = Date.now();
          // The queue moves and a child is on its way: another start now would only slow it.
          if (this.starting >= this.startsAtOnce || (this.starting > 0 && moved)) return growSoon();
          if (this.growable) this.spare(owner, person);
          else this.evictFor(owner);
        }, growAfterMs);
      };
      growSoon();
      const waiter: Waiter = {
        owner,
        take: (child) => {
          clearTimeout(timer);
          clearTimeout(grow);
          if (child instanceof Error) reject(child);
          else resolve(this.bindTo(child, owner));
        },
      };
      this.waiters.push(waiter);
      this.count();
    });
  }

  /**
   * Whether a child that may serve `owner` was freed since `time` (a waiting request's last
   * look): the wait is for a turn, not for a child stuck in a long call. Under a burst of quick
   * calls, a start per waiting request took the CPU the children needed, and each wait grew
   * longer than the last. Since the last look, not within a fixed span: after a pause of the
   * event loop, when nothing could be freed, a moving queue still reads as moving.
   */
  private freedSince(owner: string | undefined, time: number): boolean {
    const after = (key: string | undefined) => (this.freed.get(key) ?? 0) >= time;
    if (this.bind && owner !== undefined) return after(owner) || after(undefined);
    return [...this.freed.keys()].some(after);
  }

  /** Ends the idle child kept longest for someone other than `owner`. */
  private evictFor(owner: string | undefined): void {
    const others = this.idle.filter((c) => c.owner !== undefined && c.owner !== owner);
    const oldest = others.reduce<Child | undefined>(
      (a, b) => (a && a.idleSince <= b.idleSince ? a : b),
      undefined,
    );
    if (oldest) this.discard(oldest);
  }

  release(child: Child): undefined {
    child.lease = undefined;
    if (!child.open || this.state === 'closed') return this.discard(child);
    this.freed.set(child.owner, Date.now());
    const index = this.waiters.findIndex((w) => this.serves(child, w.owner));
    const waiter = index === -1 ? undefined : this.waiters.splice(index, 1)[0];
    if (waiter) waiter.take(child);
    // At a limit (count or memory), with others waiting whom it may not serve: it ends, and a new
    // child takes its place.
    else if (this.waiters.length > 0 && !this.growable) return this.discard(child);
    else {
      child.idleSince = Date.now();
      this.idle.push(child);
    }
    this.count();
  }

  /** Ends a child that may be in an unknown state (a request abandoned half way). */
  discard(child: Child): undefined {
    child.lease = undefined;
    const index = this.idle.indexOf(child);
    if (index !== -1) this.idle.splice(index, 1);
    void child.upstream.close();
  }

  private fill(): void {
    while (this.state === 'open' && this.total < this.keep && !this.resting()) this.spare();
  }

  /** A command that keeps failing is not spawned for every request: the supply gives it a rest. */
  private resting(): boolean {
    return this.supply.refusing;
  }

  /** One more child, for whoever needs one first; a person's own, for a server that acts as each person. */
  private spare(owner?: string, person?: Person): void {
    if (this.personal && person === undefined) return;
    this.start(person).then(
      (child) => this.release(person === undefined ? child : this.bindTo(child, owner)),
      (error: Error) => {
        this.log.log('warn', 'stateless child failed to start', { error: error.message });
        // Someone waiting for this child is told now, not when the wait runs out.
        this.waiters.shift()?.take(error);
        this.count();
      },
    );
  }

  /** A child ended: one waiting request may start a fresh one in its place. */
  private replace(): void {
    if (this.state === 'closed' || this.waiters.length === 0 || this.total >= this.max) return;
    // The new child goes to whoever waits first when it is ready, not to one chosen now.
    if (!this.resting()) this.spare();
  }

  /**
   * Closes idle children: those kept for a person once idle longer than `idleMs`, like an idle
   * session; those that served no one beyond the ones kept warm, likewise.
   */
  reapIdle(idleMs: number, now = Date.now()): void {
    const old = (child: Child) => now - child.idleSince > idleMs;
    const spares = this.idle.filter((child) => child.owner === undefined);
    const extra = spares.filter(old).slice(0, Math.max(0, spares.length - this.keep));
    for (const child of [...this.idle.filter((c) => c.owner !== undefined && old(c)), ...extra]) {
      this.discard(child);
    }
  }

  async close(): Promise<void> {
    this.state = 'closed';
    for (const waiter of this.waiters.splice(0)) waiter.take(new Busy('closing'));
    await Promise.all(this.idle.splice(0).map((child) => child.upstream.close()));
  }

  private async start(person?: Person): Promise<Child> {
    if (this.personal && person === undefined) {
      throw new Error('the MCP server acts as each person, and this request names no one to start it as');
    }
    this.total += 1;
    this.starting += 1;
    try {
      const child = await this.supply.initialized(await person?.open());
      this.lastInit = child.init;
      this.starting -= 1;
      this.wire(child);
      this.count();
      return child;
    } catch (error) {
      this.total -= 1;
      this.starting -= 1;
      throw error;
    }
  }

  private forgetOwner(child: Child): void {
    const owner = child.owner;
    if (owner === undefined) return;
    const holds = (this.held.get(owner) ?? 1) - 1;
    if (holds > 0) this.held.set(owner, holds);
    else {
      this.held.delete(owner);
      this.freed.delete(owner);
    }
  }

  private wire(child: Child): void {
    child.upstream.onmessage = (message, text) => {
      if (kindOf(message) === 'notification' && isBroadcast(message)) this.onBroadcast?.(message);
      if (child.lease) return child.lease(message, text);
      if (kindOf(message) === 'request')
        answerUnasked(child, message as JSONRPCMessage & { id: RequestId; method: string });
    };
    child.upstream.onexit = (_reason, detail) => {
      this.total -= 1;
      const index = this.idle.indexOf(child);
      if (index !== -1) this.idle.splice(index, 1);
      this.forgetOwner(child);
      this.count();
      child.onexit?.(detail);
      this.replace();
      this.log.log('debug', 'stateless child ended', { detail });
    };
  }
}
