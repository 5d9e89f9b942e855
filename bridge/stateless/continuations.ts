import { randomUUID } from 'node:crypto';
import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import type { Child } from '../upstream/child.ts';
import type { Keys, Request } from './translate.ts';

/** A request waiting for the client's input: the child stays leased to it until the retry or the timeout. */
export interface Continuation {
  readonly child: Child;
  readonly childId: string;
  readonly owner: string;
  readonly method: string;
  readonly name: string | undefined;
  /** The questions put to the client, answered by key on its retry. */
  readonly asked: Request[];
  readonly keys: Keys;
  /** What the child said while the client was away, replayed when it comes back. */
  readonly backlog: JSONRPCMessage[];
}

/** What a retry must match to take a continuation: the same person, method and name. */
export interface Claim {
  readonly owner: string;
  readonly method: string;
  readonly name: string | undefined;
}

/**
 * The 2026-07-28 `requestState` values this instance handed out, each for a bounded time. The
 * state names the instance first, so that a retry landing on another pod is relayed here.
 */
export class Continuations {
  private readonly waiting = new Map<string, { continuation: Continuation; timer: NodeJS.Timeout }>();
  private readonly instance: string;
  /** The client never came back (or the server closes): its child is ended, its state unknown. */
  private readonly expire: (continuation: Continuation) => void;

  constructor(instance: string, expire: (continuation: Continuation) => void) {
    this.instance = instance;
    this.expire = expire;
  }

  get size(): number {
    return this.waiting.size;
  }

  /** Keeps a continuation for `seconds`; the state a client brings back to resume it. */
  put(continuation: Continuation, seconds: number): string {
    const state = `${this.instance}.${randomUUID()}`;
    const timer = setTimeout(() => this.drop(state), seconds * 1000);
    timer.unref();
    this.waiting.set(state, { continuation, timer });
    return state;
  }

  /** The continuation a retry resumes, taken out of the store; undefined when it does not match. */
  take(state: string, claim: Claim): Continuation | undefined {
    const entry = this.waiting.get(state);
    const c = entry?.continuation;
    if (!entry || !c || c.owner !== claim.owner || c.method !== claim.method || c.name !== claim.name) return;
    this.waiting.delete(state);
    clearTimeout(entry.timer);
    return c;
  }

  dropAll(): void {
    for (const state of [...this.waiting.keys()]) this.drop(state);
  }

  private drop(state: string): void {
    const entry = this.waiting.get(state);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.waiting.delete(state);
    this.expire(entry.continuation);
  }
}
