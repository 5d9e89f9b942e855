import { availableParallelism } from 'node:os';
import { errorResponse, type JSONRPCMessage, kindOf, type RequestId, resultOf } from '../shared/jsonrpc.ts';
import type { Logger } from './log.ts';
import { noRoots } from './translate.ts';
import type { Upstream, UpstreamFactory } from './upstream.ts';

/** The revision the bridge speaks to children it initializes itself for stateless clients. */
const childRevision = '2025-11-25';
const initTimeoutMs = 10_000;
/** Long enough for a queue of requests behind a few child starts on a busy machine. */
const leaseWaitMs = 30_000;
const growAfterMs = 50;
const crashLoopFailures = 3;
const maxBackoffMs = 30_000;
/** Children started at once: beyond the cores, starts only slow each other (and every request). */
const startsAtOnce = Math.max(2, availableParallelism());

/**
 * What the bridge tells a child it can do on behalf of stateless clients: every server-to-client
 * request becomes an "input required" answer, which the client may or may not support per request.
 */
const bridgeCapabilities = { elicitation: { form: {}, url: {} }, sampling: {}, roots: {} };

export class Busy extends Error {}

/** A child initialized by the bridge; `lease` receives its messages while one request holds it. */
export class Child {
  readonly upstream: Upstream;
  readonly init: Record<string, unknown>;
  lease: ((message: JSONRPCMessage) => void) | undefined;
  onexit: ((detail: string) => void) | undefined;
  idleSince = Date.now();
  /** Whom the child serves from its first lease on, in isolated mode; `undefined`: it has served no one. */
  owner: string | undefined;

  constructor(upstream: Upstream, init: Record<string, unknown>) {
    this.upstream = upstream;
    this.init = init;
  }

  get open(): boolean {
    return this.upstream.open;
  }

  send(message: JSONRPCMessage): Promise<void> {
    return this.upstream.send(message);
  }
}

/** How many children are in each state, and who waits: for the gauges. */
export interface LeaseCounts {
  spare: number;
  leased: number;
  /** Idle, kept for the one person they served (isolated mode). */
  bound: number;
  /** People holding at least one child (isolated mode). */
  owners: number;
  waiting: number;
}

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
 * client stays with that client. Fresh spares, which have served no one, go to anyone.
 * Without `bind` (shared mode: the admin declared the server stateless) any idle child serves
 * any request.
 */
export class ChildLeases {
  private readonly spares: Child[] = [];
  private readonly bound = new Map<string, Child[]>();
  private readonly waiters: Waiter[] = [];
  /** How many live children each person holds (isolated mode). */
  private readonly held = new Map<string, number>();
  private total = 0;
  private starting = 0;
  private failures = 0;
  private retryAt = 0;
  private lastInit: Record<string, unknown> | undefined;
  private firstInit: Promise<Record<string, unknown>> | undefined;
  private state: 'open' | 'closed' = 'open';
  private readonly spawn: UpstreamFactory;
  private readonly max: number;
  private readonly keep: number;
  private readonly bind: boolean;
  private readonly log: Logger;
  /** Server notifications that concern every client (list changes), whichever child sent them. */
  onBroadcast: ((message: JSONRPCMessage & { method: string }) => void) | undefined;
  /** Told how many children are in each state, whenever that may have changed. */
  onCount: ((counts: LeaseCounts) => void) | undefined;

  constructor(spawn: UpstreamFactory, options: { max: number; keep: number; bind: boolean; log: Logger }) {
    this.spawn = spawn;
    this.max = options.max;
    this.keep = options.keep;
    this.bind = options.bind;
    this.log = options.log;
  }

  /**
   * The initialize result of a child: what `server/discover` answers from. No one is served by
   * it, and a burst of first discoveries waits for one child rather than starting one each.
   */
  initResult(): Promise<Record<string, unknown>> {
    if (this.lastInit) return Promise.resolve(this.lastInit);
    this.firstInit ??= this.start().then(
      (child) => {
        this.offer(child);
        return child.init;
      },
      (error: Error) => {
        this.firstInit = undefined;
        throw error;
      },
    );
    return this.firstInit;
  }

  /**
   * A child for one request of `owner`: one that served them before, a fresh spare, or a new one.
   * No owner: the bridge's own request, which leaves a spare a spare.
   */
  async acquire(owner?: string): Promise<Child> {
    if (this.state === 'closed') throw new Busy('closing');
    // The pool's children are started once stateless clients show up, not before.
    if (this.short()) setTimeout(() => this.fill(), 0).unref();
    const own = this.idleFor(owner);
    if (own) return this.hand(own, owner);
    // Someone whose children are all busy waits a moment for one, as everyone does in shared mode.
    const spare = this.holds(owner) ? undefined : this.spares.pop();
    if (spare) return this.hand(spare, owner);
    if (this.total < this.keep) return this.hand(await this.start(), owner);
    return this.wait(owner);
  }

  /** Whether a person already has children of their own (isolated mode). */
  private holds(owner: string | undefined): boolean {
    return this.bind && owner !== undefined && (this.held.get(owner) ?? 0) > 0;
  }

  private idleFor(owner: string | undefined): Child | undefined {
    if (!this.bind || owner === undefined) return undefined;
    const mine = this.bound.get(owner);
    const child = mine?.pop();
    if (mine?.length === 0) this.bound.delete(owner);
    return child;
  }

  private hand(child: Child, owner: string | undefined): Child {
    if (this.bind && child.owner === undefined && owner !== undefined) {
      child.owner = owner;
      this.held.set(owner, (this.held.get(owner) ?? 0) + 1);
    }
    this.count();
    return child;
  }

  private count(): void {
    const bound = [...this.bound.values()].reduce((sum, children) => sum + children.length, 0);
    this.onCount?.({
      spare: this.spares.length,
      leased: Math.max(0, this.total - this.starting - this.spares.length - bound),
      bound,
      owners: this.held.size,
      waiting: this.waiters.length,
    });
  }

  /**
   * Every child busy: a child freed within a few milliseconds is worth more than a spawn (hundreds),
   * so a request waits a moment before the pool grows by one for it. At the limit, an idle child
   * kept for someone else makes room.
   */
  private wait(owner: string | undefined): Promise<Child> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index !== -1) this.waiters.splice(index, 1);
        this.count();
        reject(new Busy('every child is busy'));
      }, leaseWaitMs);
      const grow = setTimeout(() => {
        if (this.waiters.includes(waiter)) this.grow(waiter);
      }, growAfterMs);
      const waiter: Waiter = {
        owner,
        take: (child) => {
          clearTimeout(timer);
          clearTimeout(grow);
          if (child instanceof Error) reject(child);
          else resolve(this.hand(child, owner));
        },
      };
      this.waiters.push(waiter);
      this.count();
    });
  }

  /**
   * One more child for the requests waiting, unless enough are starting already; at the limit, an
   * idle child kept for someone else ends, and its exit makes room.
   */
  private grow(waited?: Waiter): void {
    if (this.state === 'closed' || this.waiters.length === 0) return;
    const spare = waited === undefined ? undefined : this.spares.pop();
    if (waited && spare) {
      this.waiters.splice(this.waiters.indexOf(waited), 1);
      waited.take(spare);
      return;
    }
    if (this.resting()) return;
    if (this.total >= this.max) this.evictIdle();
    else if (this.starting < startsAtOnce) this.spare();
  }

  /** Ends the child idle longest among those kept for people; its exit makes room for a new one. */
  private evictIdle(): void {
    const idle = [...this.bound.values()].flat();
    const oldest = idle.reduce<Child | undefined>(
      (a, b) => (a && a.idleSince <= b.idleSince ? a : b),
      undefined,
    );
    if (oldest) this.discard(oldest);
  }

  release(child: Child): undefined {
    child.lease = undefined;
    if (!child.open || this.state === 'closed') return this.discard(child);
    if (!this.bind) child.owner = undefined;
    this.offer(child);
  }

  /** An idle child goes to the first request that may have it, or waits for one. */
  private offer(child: Child): void {
    const owner = child.owner;
    const index = this.waiters.findIndex((w) => owner === undefined || w.owner === owner);
    const waiter = index === -1 ? undefined : this.waiters.splice(index, 1)[0];
    if (waiter) waiter.take(child);
    else {
      child.idleSince = Date.now();
      if (owner === undefined) this.spares.push(child);
      else this.bound.set(owner, [...(this.bound.get(owner) ?? []), child]);
    }
    this.count();
  }

  /** Ends a child that may be in an unknown state (a request abandoned half way). */
  discard(child: Child): undefined {
    child.lease = undefined;
    this.forget(child);
    void child.upstream.close();
  }

  private forget(child: Child): void {
    const spare = this.spares.indexOf(child);
    if (spare !== -1) this.spares.splice(spare, 1);
    const mine = child.owner === undefined ? undefined : this.bound.get(child.owner);
    const index = mine?.indexOf(child) ?? -1;
    if (mine && index !== -1) mine.splice(index, 1);
    if (mine?.length === 0 && child.owner !== undefined) this.bound.delete(child.owner);
  }

  /**
   * Spares ready ahead of demand. Shared mode keeps `keep` children in all; isolated mode keeps
   * `keep` that have served no one, since each person's children leave the common supply.
   */
  private fill(): void {
    const room = () => this.total < this.max && this.starting < startsAtOnce;
    while (this.state === 'open' && this.short() && room() && !this.resting()) this.spare();
  }

  private short(): boolean {
    return this.bind ? this.spares.length + this.starting < this.keep : this.total < this.keep;
  }

  /** A command that keeps failing is not spawned for every request: it gets a growing rest. */
  private resting(now = Date.now()): boolean {
    return this.failures >= crashLoopFailures && now < this.retryAt;
  }

  /** One more child, for whoever needs one first. */
  private spare(): void {
    this.start().then(
      (child) => {
        this.offer(child);
        this.grow();
      },
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
    // The new child goes to whoever waits first when it is ready, not to one chosen now.
    if (this.total < this.max) this.grow();
  }

  /**
   * Closes idle children: those kept for a person once idle longer than `idleMs`, like an idle
   * session; spares beyond the ones kept warm likewise.
   */
  reapIdle(idleMs: number, now = Date.now()): void {
    const old = (child: Child) => now - child.idleSince > idleMs;
    for (const child of [...this.bound.values()].flat().filter(old)) this.discard(child);
    const extra = this.spares.length - this.keep;
    for (const child of this.spares.filter(old).slice(0, Math.max(0, extra))) this.discard(child);
  }

  async close(): Promise<void> {
    this.state = 'closed';
    for (const waiter of this.waiters.splice(0)) waiter.take(new Busy('closing'));
    const idle = [...this.spares.splice(0), ...[...this.bound.values()].flat()];
    this.bound.clear();
    await Promise.all(idle.map((child) => child.upstream.close()));
  }

  private async start(): Promise<Child> {
    if (this.resting()) {
      throw new Error('the MCP server keeps failing to start; the bridge will try again shortly');
    }
    this.total += 1;
    this.starting += 1;
    let upstream: Upstream | undefined;
    try {
      upstream = await this.spawn();
      const init = await initialize(upstream);
      const child = new Child(upstream, init);
      this.lastInit = init;
      this.wire(child);
      this.failures = 0;
      return child;
    } catch (error) {
      this.total -= 1;
      this.failures += 1;
      this.retryAt = Date.now() + Math.min(maxBackoffMs, 250 * 2 ** (this.failures - 1));
      await upstream?.close();
      throw error;
    } finally {
      this.starting -= 1;
    }
  }

  private wire(child: Child): void {
    child.upstream.onmessage = (message) => {
      if (kindOf(message) === 'notification' && isBroadcast(message)) this.onBroadcast?.(message);
      if (child.lease) return child.lease(message);
      if (kindOf(message) === 'request')
        answerUnasked(child, message as JSONRPCMessage & { id: RequestId; method: string });
    };
    child.upstream.onexit = (_reason, detail) => {
      this.total -= 1;
      this.forget(child);
      const owner = child.owner;
      const holds = owner === undefined ? 0 : (this.held.get(owner) ?? 0) - 1;
      if (owner !== undefined && holds > 0) this.held.set(owner, holds);
      else if (owner !== undefined) this.held.delete(owner);
      this.count();
      child.onexit?.(detail);
      this.replace();
      this.log.log('debug', 'stateless child ended', { detail });
    };
  }
}

/** A question outside any request: the bridge has no roots of its own, and no one to ask anything else. */
function answerUnasked(child: Child, question: JSONRPCMessage & { id: RequestId; method: string }): void {
  const answer: JSONRPCMessage =
    question.method === 'roots/list'
      ? noRoots(question.id)
      : errorResponse(question.id, -32603, 'no client is waiting on this server');
  child.send(answer).catch(() => undefined);
}

const broadcast = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
]);

function isBroadcast(message: JSONRPCMessage): message is JSONRPCMessage & { method: string } {
  return 'method' in message && broadcast.has(message.method);
}

/** The 2025 handshake, done by the bridge as the child's client. */
function initialize(upstream: Upstream): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const id = 'bridge-initialize';
    const timer = setTimeout(
      () => reject(new Error('the MCP server did not answer initialize')),
      initTimeoutMs,
    );
    upstream.onexit = (_reason, detail) => {
      clearTimeout(timer);
      reject(new Error(detail));
    };
    upstream.onmessage = (message) => {
      if (!('id' in message) || message.id !== id || 'method' in message) return;
      clearTimeout(timer);
      const result = resultOf(message);
      if (result === undefined) return reject(new Error('the MCP server refused initialize'));
      if (typeof result.protocolVersion === 'string') upstream.setProtocolVersion(result.protocolVersion);
      upstream
        .send({ jsonrpc: '2.0', method: 'notifications/initialized' })
        .then(() => resolve(result), reject);
    };
    upstream
      .send({
        jsonrpc: '2.0',
        id,
        method: 'initialize',
        params: {
          protocolVersion: childRevision,
          capabilities: bridgeCapabilities,
          clientInfo: { name: 'mcp-edge-gateway-bridge', version: '0.1.0' },
        },
      })
      .catch(reject);
  });
}
