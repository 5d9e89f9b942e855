import { errorResponse, type JSONRPCMessage, kindOf, type RequestId, resultOf } from '../shared/jsonrpc.ts';
import type { Logger } from './log.ts';
import { noRoots } from './translate.ts';
import type { Upstream, UpstreamFactory } from './upstream.ts';

/** The revision the bridge speaks to children it initializes itself for stateless clients. */
const childRevision = '2025-11-25';
const initTimeoutMs = 10_000;
const leaseWaitMs = 10_000;
const growAfterMs = 50;
const crashLoopFailures = 3;
const maxBackoffMs = 30_000;

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

/**
 * Children for 2026-07-28 clients, which bring no session: each request leases one initialized
 * child for as long as it runs (and while it waits for input), so that a server's question
 * reaches the one client whose request asked it. Children are reused, never shared at once.
 */
export class ChildLeases {
  private readonly idle: Child[] = [];
  private readonly waiters: ((child: Child | Error) => void)[] = [];
  private total = 0;
  private failures = 0;
  private retryAt = 0;
  private lastInit: Record<string, unknown> | undefined;
  private state: 'open' | 'closed' = 'open';
  private readonly spawn: UpstreamFactory;
  private readonly max: number;
  private readonly keep: number;
  private readonly log: Logger;
  /** Server notifications that concern every client (list changes), whichever child sent them. */
  onBroadcast: ((message: JSONRPCMessage & { method: string }) => void) | undefined;
  /** Told how many children are idle and how many leased, whenever that may have changed. */
  onCount: ((spare: number, leased: number) => void) | undefined;

  constructor(spawn: UpstreamFactory, options: { max: number; keep: number; log: Logger }) {
    this.spawn = spawn;
    this.max = options.max;
    this.keep = options.keep;
    this.log = options.log;
  }

  /** The initialize result of a child: what `server/discover` answers from. */
  async initResult(): Promise<Record<string, unknown>> {
    if (this.lastInit) return this.lastInit;
    const child = await this.acquire();
    this.release(child);
    return child.init;
  }

  async acquire(): Promise<Child> {
    if (this.state === 'closed') throw new Busy('closing');
    // The pool's children are started once stateless clients show up, not before.
    if (this.total < this.keep) setTimeout(() => this.fill(), 0).unref();
    const idle = this.idle.pop();
    this.count();
    if (idle) return idle;
    if (this.total < this.keep) return this.start();
    return this.wait();
  }

  private count(): void {
    this.onCount?.(this.idle.length, this.total - this.idle.length);
  }

  /**
   * Every child busy: a child freed within a few milliseconds is worth more than a spawn (hundreds),
   * so a request waits a moment before the pool grows by one for it.
   */
  private wait(): Promise<Child> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(take);
        if (index !== -1) this.waiters.splice(index, 1);
        reject(new Busy('every child is busy'));
      }, leaseWaitMs);
      const grow = setTimeout(() => {
        if (this.waiters.includes(take) && this.total < this.max && !this.resting()) this.spare();
      }, growAfterMs);
      const take = (child: Child | Error) => {
        clearTimeout(timer);
        clearTimeout(grow);
        if (child instanceof Error) reject(child);
        else resolve(child);
      };
      this.waiters.push(take);
    });
  }

  release(child: Child): undefined {
    child.lease = undefined;
    if (!child.open || this.state === 'closed') return this.discard(child);
    const waiter = this.waiters.shift();
    if (waiter) waiter(child);
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

  /** A command that keeps failing is not spawned for every request: it gets a growing rest. */
  private resting(now = Date.now()): boolean {
    return this.failures >= crashLoopFailures && now < this.retryAt;
  }

  /** One more child, for whoever needs one first. */
  private spare(): void {
    this.start().then(
      (child) => this.release(child),
      (error: Error) => {
        this.log.log('warn', 'stateless child failed to start', { error: error.message });
        // Someone waiting for this child is told now, not when the wait runs out.
        this.waiters.shift()?.(error);
      },
    );
  }

  /** A child ended: one waiting request may start a fresh one in its place. */
  private replace(): void {
    if (this.state === 'closed' || this.waiters.length === 0 || this.total >= this.max) return;
    // The new child goes to whoever waits first when it is ready, not to one chosen now.
    if (!this.resting()) this.spare();
  }

  /** Closes idle children beyond the ones kept warm, once idle longer than `idleMs`. */
  reapIdle(idleMs: number, now = Date.now()): void {
    const extra = this.idle.length - this.keep;
    const old = this.idle.filter((child) => now - child.idleSince > idleMs).slice(0, Math.max(0, extra));
    for (const child of old) this.discard(child);
  }

  async close(): Promise<void> {
    this.state = 'closed';
    for (const waiter of this.waiters.splice(0)) waiter(new Busy('closing'));
    await Promise.all(this.idle.splice(0).map((child) => child.upstream.close()));
  }

  private async start(): Promise<Child> {
    if (this.resting()) {
      throw new Error('the MCP server keeps failing to start; the bridge will try again shortly');
    }
    this.total += 1;
    let upstream: Upstream | undefined;
    try {
      upstream = await this.spawn();
      const init = await initialize(upstream);
      const child = new Child(upstream, init);
      this.lastInit = init;
      this.wire(child);
      this.count();
      this.failures = 0;
      return child;
    } catch (error) {
      this.total -= 1;
      this.failures += 1;
      this.retryAt = Date.now() + Math.min(maxBackoffMs, 250 * 2 ** (this.failures - 1));
      await upstream?.close();
      throw error;
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
      const index = this.idle.indexOf(child);
      if (index !== -1) this.idle.splice(index, 1);
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
