import type { Principal } from '../../shared/policy/policy.ts';
import {
  type JSONRPCMessage,
  kindOf,
  paramsOf,
  type RequestId,
  resourceIdOf,
} from '../../shared/protocol/jsonrpc.ts';
import { errorOf, type Refusal, toWire } from '../../shared/protocol/refusal.ts';
import { metaKeys } from '../../shared/protocol/revision.ts';
import { redact } from '../../shared/security/redact.ts';
import { type ServerConfig, timeoutSeconds } from '../config.ts';
import { ExchangeError } from '../identity/exchange.ts';
import type { Person } from '../identity/identity.ts';
import type { Child } from '../upstream/child.ts';
import { Busy, type ChildLeases } from '../upstream/leases.ts';
import { Continuations } from './continuations.ts';
import {
  complete,
  completeText,
  forChild,
  forClient,
  inputMethods,
  type Keys,
  noRoots,
  type Request,
  shown,
} from './translate.ts';
import type { Answer } from './writer.ts';

/** How long to wait for more questions after one: a server asking several writes them in one go. */
const gatherMs = 20;
/**
 * How long more to wait when the questions so far are all ones the client cannot answer, which
 * would fail the request: on a busy machine one burst of questions can arrive split.
 */
const lateQuestionMs = 250;

/** One client request on its way through: who sent it, what it may be asked, where progress goes. */
export interface Exchange {
  readonly request: Request;
  keys: Keys;
  readonly capabilities: Record<string, unknown>;
  readonly who: string;
  /** The caller, for a server that acts as each person: their child is started and kept fresh as them. */
  readonly person?: Person;
  notice?: (message: JSONRPCMessage) => void;
  /** Aborted when the client goes away before its answer. */
  readonly gone?: AbortSignal;
}

type Event =
  | { kind: 'answer'; message: JSONRPCMessage; text: string | undefined }
  | { kind: 'input'; requests: Request[] }
  | { kind: 'gone'; detail: string }
  | { kind: 'abandoned' }
  | { kind: 'timeout' };

/**
 * The state machine of one 2026-07-28 request on a 2025-11-25 child: it runs on a leased
 * child until the child answers (complete), asks the client something (input required, the
 * child kept for the retry under a `requestState`), dies, times out, or the client leaves.
 * It returns the answer; writing it is the caller's.
 */
export class Conversations {
  private readonly leases: ChildLeases;
  private readonly config: ServerConfig;
  readonly continuations: Continuations;
  private nextId = 1;

  constructor(leases: ChildLeases, config: ServerConfig, instance: string) {
    this.leases = leases;
    this.config = config;
    this.continuations = new Continuations(instance, (c) => this.leases.discard(c.child));
  }

  async run(x: Exchange): Promise<Answer> {
    const { request } = x;
    const params = paramsOf(request) ?? {};
    const state = params.requestState;
    if (typeof state === 'string') return this.resume(x, state);
    let child: Child;
    try {
      child = await this.leases.acquire(x.who === bridgeItself ? undefined : x.who, x.person);
    } catch (error) {
      return refused(request.id, unavailable(error, this.config.name));
    }
    if (x.gone?.aborted) {
      // The client left while waiting for a child: nothing was sent, so the child is as good as new.
      this.leases.release(child);
      return refused(request.id, { kind: 'client_gone' });
    }
    const childId = `s-${this.nextId++}`;
    const event = this.next(x, child, childId);
    child
      .send({ ...request, id: childId, params: forChild(params) } as JSONRPCMessage)
      .catch((error: Error) => {
        // Not delivered (an HTTP server that refused the POST): that is the answer, not a silence.
        const detail = redact(error.message).slice(0, 300);
        child.lease?.(errorOf({ kind: 'upstream_failed', detail }, childId));
      });
    return this.settle(x, child, childId, await event);
  }

  private async resume(x: Exchange, state: string): Promise<Answer> {
    const { request, who } = x;
    const continuation = this.continuations.take(state, {
      owner: who,
      method: request.method,
      name: resourceIdOf(request),
    });
    if (!continuation) {
      const detail = 'requestState is unknown or has expired: send the request again without it';
      return refused(request.id, { kind: 'invalid_params', detail });
    }
    const { child, childId } = continuation;
    if (!child.open) {
      const detail =
        'the MCP server ended while waiting for your input: send the request again without requestState';
      return refused(request.id, { kind: 'upstream_exited', detail });
    }
    try {
      const credential = child.upstream.credential;
      if (x.person !== undefined && credential !== undefined) await x.person.freshen(credential);
    } catch (error) {
      this.leases.discard(child);
      return refused(request.id, unavailable(error, this.config.name));
    }
    x.keys = continuation.keys;
    // The questions are put again: those this retry answers go to the child, the rest are asked anew.
    const event = this.next(x, child, childId, continuation.backlog, continuation.asked);
    return this.settle(x, child, childId, await event);
  }

  /** Waits for what the child does next about one request: answer it, ask the client, or die. */
  private next(
    x: Exchange,
    child: Child,
    childId: string,
    backlog: JSONRPCMessage[] = [],
    unanswered: Request[] = [],
  ): Promise<Event> {
    const seconds = this.timeoutOf(x.request);
    return new Promise((resolve) => {
      let batch: Request[] = [...unanswered];
      let flush: NodeJS.Timeout | undefined;
      let settled = false;
      const abandoned = () => done({ kind: 'abandoned' });
      const done = (event: Event) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(flush);
        x.gone?.removeEventListener('abort', abandoned);
        child.lease = undefined;
        child.onexit = undefined;
        resolve(event);
      };
      const timer = setTimeout(() => done({ kind: 'timeout' }), seconds * 1000);
      // Questions asked together are answered together: gather those that arrive close together.
      let waitedLate = false;
      const ask = () => {
        if (!waitedLate && !batch.some((question) => answerable(x, question))) {
          waitedLate = true;
          flush = setTimeout(ask, lateQuestionMs);
          return;
        }
        done({ kind: 'input', requests: batch });
      };
      child.onexit = (detail) => done({ kind: 'gone', detail });
      if (x.gone?.aborted) abandoned();
      else x.gone?.addEventListener('abort', abandoned, { once: true });
      child.lease = (message, text) => {
        const kind = kindOf(message);
        if ((kind === 'response' || kind === 'error') && 'id' in message && message.id === childId) {
          return done({ kind: 'answer', message, text });
        }
        if (kind === 'request' && (message as Request).method === 'ping') {
          child.send({ jsonrpc: '2.0', id: (message as Request).id, result: {} }).catch(() => undefined);
        } else if (kind === 'request') {
          batch = [...batch, message as Request];
          clearTimeout(flush);
          flush = setTimeout(ask, gatherMs);
        }
        const notice = kind === 'notification' ? forClient(message, x.request) : undefined;
        if (notice) x.notice?.(notice);
      };
      if (batch.length > 0) flush = setTimeout(ask, gatherMs);
      for (const message of backlog) child.lease?.(message);
    });
  }

  private timeoutOf(request: Request): number {
    return timeoutSeconds(this.config.limits, request.method, resourceIdOf(request));
  }

  private settle(x: Exchange, child: Child, childId: string, event: Event): Promise<Answer> | Answer {
    const { request } = x;
    switch (event.kind) {
      case 'answer':
        this.leases.release(child);
        return {
          status: 200,
          message: complete(request, event.message, child.init),
          text: completeText(request, event.text, child.init),
        };
      case 'abandoned':
        // The client went away: the server is told, and the child, whose request may still be
        // running and asking, is not lent to anyone else.
        child
          .send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: childId } })
          .catch(() => undefined);
        this.leases.discard(child);
        return refused(request.id, { kind: 'client_gone' });
      case 'gone':
        return refused(request.id, {
          kind: 'upstream_exited',
          detail: `${event.detail}; send the request again`,
        });
      case 'timeout':
        this.leases.discard(child);
        return refused(request.id, { kind: 'request_timeout', seconds: this.timeoutOf(request) });
      case 'input':
        return this.askClient(x, child, childId, event.requests);
    }
  }

  /**
   * The child's questions: those the request already carries an answer for (`inputResponses`,
   * by key) are answered at once; the rest become an `input_required` answer. A question the
   * client declared no capability for is refused to the child; if nothing else is left, the
   * client gets -32021 naming the capability.
   */
  private async askClient(x: Exchange, child: Child, childId: string, questions: Request[]): Promise<Answer> {
    const { request, capabilities, who } = x;
    const responses = (paramsOf(request)?.inputResponses ?? {}) as Record<string, unknown>;
    const asked: Request[] = [];
    const missing: Record<string, object> = {};
    let answered = 0;
    for (const question of questions) {
      const key = x.keys.of(question);
      const answer = responses[key];
      const needs = inputMethods[question.method];
      if (answer !== null && typeof answer === 'object' && needs !== undefined) {
        child.send({ jsonrpc: '2.0', id: question.id, result: answer } as JSONRPCMessage).catch(() => {});
        answered += 1;
      } else if (needs !== undefined && capabilities[needs] !== undefined) {
        asked.push(question);
      } else if (needs === 'roots') {
        // A client without roots has none: the server goes on without them, as it must. That is
        // the bridge's answer, not the client's: it does not excuse a capability that is missing.
        child.send(noRoots(question.id)).catch(() => undefined);
      } else {
        if (needs !== undefined) missing[needs] = {};
        const detail =
          needs === undefined ? `${question.method} is not relayed` : `the client did not declare ${needs}`;
        child.send(errorOf({ kind: 'question_refused', detail }, question.id)).catch(() => undefined);
      }
    }
    if (asked.length === 0 && answered === 0 && Object.keys(missing).length > 0) {
      // The child's state now depends on a refusal it may not survive well: it is not reused.
      this.leases.discard(child);
      return refused(request.id, { kind: 'missing_capability', required: missing });
    }
    if (asked.length === 0) return this.settle(x, child, childId, await this.next(x, child, childId));
    const backlog: JSONRPCMessage[] = [];
    child.lease = (message) => backlog.push(message);
    const continuation = {
      child,
      childId,
      owner: who,
      method: request.method,
      name: resourceIdOf(request),
      asked,
      keys: x.keys,
      backlog,
    };
    const state = this.continuations.put(continuation, this.config.limits.requestTimeoutSeconds);
    const inputRequests = Object.fromEntries(
      asked.map((q) => [x.keys.of(q), { method: q.method, params: shown(q) }]),
    );
    const result = {
      resultType: 'input_required',
      inputRequests,
      requestState: state,
      _meta: { [metaKeys.serverInfo]: child.init.serverInfo },
    };
    return { status: 200, message: { jsonrpc: '2.0', id: request.id, result } as JSONRPCMessage };
  }
}

/** Whether the client can answer a question: it carries the answer, declared the capability, or it is roots. */
function answerable(x: Exchange, question: Request): boolean {
  const needs = inputMethods[question.method];
  if (needs === undefined) return false;
  const responses = (paramsOf(x.request)?.inputResponses ?? {}) as Record<string, unknown>;
  const carried = responses[x.keys.of(question)];
  return (
    needs === 'roots' ||
    x.capabilities[needs] !== undefined ||
    (carried !== null && typeof carried === 'object')
  );
}

/** The bridge's own requests (the tool list behind `Mcp-Param-*` checks): no principal's key, and no person served. */
export const bridgeItself = 'bridge:';

/** A principal's key: children and continuations are theirs alone. Unsigned callers are one person. */
export function owner(principal: Principal | undefined): string {
  return principal === undefined ? '' : `${principal.method}:${principal.subject}`;
}

export function unavailable(error: unknown, server = ''): Refusal {
  if (error instanceof ExchangeError) {
    if (error.refused) return { kind: 'identity_refused', server, detail: error.message };
    return { kind: 'upstream_unavailable', reason: error.message };
  }
  return { kind: 'upstream_failed', detail: (error as Error).message, busy: error instanceof Busy };
}

export function refused(id: RequestId, refusal: Refusal): Answer {
  const wire = toWire(refusal, id);
  return { status: wire.status, message: wire.body as JSONRPCMessage };
}
