import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../../shared/policy/policy.ts';
import {
  isFailure,
  type JSONRPCMessage,
  kindOf,
  listedNames,
  modernClientRequestMethods,
  paramsOf,
  progressTokenOf,
  type RequestId,
  resourceIdOf,
  resultOf,
} from '../../shared/protocol/jsonrpc.ts';
import { errorOf, type Refusal, toWire } from '../../shared/protocol/refusal.ts';
import { metaKeys, modernRevision, type Revision } from '../../shared/protocol/revision.ts';
import { sseEvent } from '../../shared/protocol/sse.ts';
import { type ServerConfig, timeoutSeconds } from '../config.ts';
import type { Logger } from '../log.ts';
import {
  type KnownNames,
  type Metrics,
  recordAnswer,
  recordLeases,
  statusCodeOf,
} from '../metrics/metrics.ts';
import { Busy, type Child, ChildLeases } from '../upstream/leases.ts';
import type { MemoryBudget } from '../upstream/memory.ts';
import type { UpstreamFactory } from '../upstream/upstream.ts';
import { ListenStreams } from './listen.ts';
import { ParamHeaderChecks } from './param-headers.ts';
import { ModernUpstream } from './passthrough.ts';
import {
  complete,
  forChild,
  forClient,
  inputMethods,
  Keys,
  noRoots,
  type Request,
  shown,
} from './translate.ts';

type Modern = Extract<Revision, { era: 'modern' }>;

/** How long to wait for more questions after one: a server asking several writes them in one go. */
const gatherMs = 20;
/**
 * How long more to wait when the questions so far are all ones the client cannot answer, which
 * would fail the request: on a busy machine one burst of questions can arrive split.
 */
const lateQuestionMs = 250;

/** A request waiting for the client's input: the child stays leased to it until the retry or the timeout. */
interface Continuation {
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
  readonly timer: NodeJS.Timeout;
}

/** One client request on its way through: who sent it, what it may be asked, where progress goes. */
interface Exchange {
  readonly request: Request;
  keys: Keys;
  readonly capabilities: Record<string, unknown>;
  readonly who: string;
  notice?: (message: JSONRPCMessage) => void;
  /** Aborted when the client goes away before its answer. */
  readonly gone?: AbortSignal;
}

type Answer = { status: number; message: JSONRPCMessage };

type Event =
  | { kind: 'answer'; message: JSONRPCMessage }
  | { kind: 'input'; requests: Request[] }
  | { kind: 'gone'; detail: string }
  | { kind: 'abandoned' }
  | { kind: 'timeout' };

interface Deps {
  config: ServerConfig;
  metrics: Metrics;
  log: Logger;
  names: KnownNames;
  instance: string;
  memory: MemoryBudget;
}

/**
 * MCP 2026-07-28 for a server that speaks 2025-11-25: each request runs on a leased child the
 * bridge initialized itself; the answer gets `resultType` and `serverInfo`; a server's question
 * (elicitation, sampling, roots) becomes an "input required" answer whose `requestState` brings
 * the retry back to the same child.
 */
export class StatelessServer {
  private readonly leases: ChildLeases;
  private readonly continuations = new Map<string, Continuation>();
  private readonly listeners: ListenStreams;
  private nextId = 1;
  private inflight = 0;
  private readonly paramHeaders = new ParamHeaderChecks(() => this.toolList());
  private readonly deps: Deps;

  /** Set for Streamable HTTP servers, which may speak 2026-07-28 themselves. */
  private readonly native: ModernUpstream | undefined;

  constructor(factory: UpstreamFactory, deps: Deps) {
    this.deps = deps;
    const transport = deps.config.transport;
    if (transport.type === 'streamable-http') {
      this.native = new ModernUpstream(transport.url, transport.headers, deps.log);
    }
    const { limits, pool } = deps.config;
    this.leases = new ChildLeases(factory, {
      max: limits.maxSessions,
      keep: Math.max(1, pool),
      bind: deps.config.sessions === 'isolated',
      log: deps.log,
      roomForOne: () => deps.memory.admits().ok,
    });
    this.listeners = new ListenStreams(limits.maxSessions);
    this.leases.onBroadcast = (message) => this.listeners.broadcast(message);
    this.leases.onCount = (counts) => recordLeases(deps.metrics, deps.config.name, counts);
  }

  /** Requests running, or waiting for their client's input: what a drain waits for. */
  get busy(): boolean {
    return this.inflight > 0 || this.continuations.size > 0;
  }

  async handle(
    res: ServerResponse,
    req: IncomingMessage,
    modern: Modern,
    principal?: Principal,
  ): Promise<void> {
    const message = modern.message;
    if (!('id' in message)) {
      res.writeHead(202).end();
      return;
    }
    const request = message as Request;
    const started = process.hrtime.bigint();
    if (await this.native?.speaksModern()) {
      this.inflight += 1;
      return this.pass(req, res, modern, started, principal).finally(() => {
        this.inflight -= 1;
      });
    }
    if (!modernClientRequestMethods.has(request.method)) {
      return send(
        res,
        refused(request.id, { kind: 'unknown_method', method: request.method, stateless: true }),
      );
    }
    if (request.method === 'server/discover') return this.discover(res, request);
    if (request.method === 'subscriptions/listen') return this.listeners.open(res, request);
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    this.inflight += 1;
    try {
      if (request.method === 'tools/call') {
        const mismatch = await this.paramHeaders.mismatch(req, request);
        if (mismatch) return send(res, refused(request.id, { kind: 'header_mismatch', detail: mismatch }));
      }
      await this.answer(req, res, modern, principal, gone.signal, started);
    } finally {
      this.inflight -= 1;
    }
  }

  private async answer(
    req: IncomingMessage,
    res: ServerResponse,
    modern: Modern,
    principal: Principal | undefined,
    gone: AbortSignal,
    started: bigint,
  ): Promise<void> {
    const request = modern.message as Request;
    const x: Exchange = {
      request,
      capabilities: modern.clientCapabilities,
      who: owner(principal),
      keys: new Keys(),
      gone,
    };
    // Progress asked for and an event stream accepted: the answer streams, progress first.
    const stream = progressTokenOf(request) !== undefined && accepts(req, 'text/event-stream');
    if (stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      x.notice = (message) => res.write(sseEvent(message));
    }
    const answer = await this.run(x);
    const result = resultOf(answer.message);
    this.deps.names.learn(request.method, listedNames(request.method, result));
    const listed = request.method === 'tools/list' && !paramsOf(request)?.cursor;
    if (listed && result?.resultType === 'complete') this.paramHeaders.learn(result);
    const outcome = result?.resultType === 'input_required' ? 'input_required' : undefined;
    this.measure(request, isFailure(answer.message), answer.status, started, principal, outcome);
    if (res.destroyed) return;
    if (stream) res.end(sseEvent(answer.message));
    else send(res, answer);
  }

  /** A server that speaks 2026-07-28 itself: the request goes to it as it is, the answer streams back. */
  private async pass(
    req: IncomingMessage,
    res: ServerResponse,
    modern: Modern,
    started: bigint,
    principal?: Principal,
  ): Promise<void> {
    const request = modern.message as Request;
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    try {
      await this.native?.forward(res, modern, paramHeadersFrom(req.headers), abort.signal);
      this.measure(request, res.statusCode >= 400, res.statusCode, started, principal);
    } catch (error) {
      this.measure(request, true, 502, started, principal);
      if (!res.headersSent) send(res, refused(request.id, unavailable(error)));
      else res.end();
    }
  }

  /** The server's complete tool list, asked of a child like any request, for the `Mcp-Param-*` marks. */
  private async toolList(): Promise<Record<string, unknown> | undefined> {
    const listing = { jsonrpc: '2.0', id: 'bridge-tools-list', method: 'tools/list', params: {} } as Request;
    const answer = await this.run({
      request: listing,
      capabilities: {},
      who: bridgeItself,
      keys: new Keys(),
    });
    const result = resultOf(answer.message);
    return result?.resultType === 'complete' ? result : undefined;
  }

  async close(): Promise<void> {
    this.listeners.closeAll();
    for (const [state, continuation] of this.continuations) this.abandon(state, continuation);
    await this.leases.close();
  }

  reapIdle(): void {
    this.leases.reapIdle(this.deps.config.limits.idleTimeoutSeconds * 1000);
  }

  private async discover(res: ServerResponse, request: Request): Promise<void> {
    let init: Record<string, unknown>;
    try {
      init = await this.leases.initResult();
    } catch (error) {
      return send(res, refused(request.id, unavailable(error)));
    }
    const result = {
      supportedVersions: [modernRevision],
      capabilities: init.capabilities ?? {},
      ...(typeof init.instructions === 'string' ? { instructions: init.instructions } : {}),
      resultType: 'complete',
      ttlMs: 0,
      cacheScope: 'private',
      _meta: { [metaKeys.serverInfo]: init.serverInfo },
    };
    send(res, { status: 200, message: { jsonrpc: '2.0', id: request.id, result } });
  }

  private async run(x: Exchange): Promise<Answer> {
    const { request } = x;
    const params = paramsOf(request) ?? {};
    const state = params.requestState;
    if (typeof state === 'string') return this.resume(x, state);
    let child: Child;
    try {
      child = await this.leases.acquire(x.who === bridgeItself ? undefined : x.who);
    } catch (error) {
      return refused(request.id, unavailable(error));
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
      .catch(() => undefined);
    return this.settle(x, child, childId, await event);
  }

  private async resume(x: Exchange, state: string): Promise<Answer> {
    const { request, who } = x;
    const continuation = this.continuations.get(state);
    const name = resourceIdOf(request);
    if (
      !continuation ||
      continuation.owner !== who ||
      continuation.method !== request.method ||
      continuation.name !== name
    ) {
      const detail = 'requestState is unknown or has expired: send the request again without it';
      return refused(request.id, { kind: 'invalid_params', detail });
    }
    this.continuations.delete(state);
    clearTimeout(continuation.timer);
    const { child, childId } = continuation;
    if (!child.open) {
      const detail =
        'the MCP server ended while waiting for your input: send the request again without requestState';
      return refused(request.id, { kind: 'upstream_exited', detail });
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
      child.lease = (message) => {
        const kind = kindOf(message);
        if ((kind === 'response' || kind === 'error') && 'id' in message && message.id === childId) {
          return done({ kind: 'answer', message });
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
    return timeoutSeconds(this.deps.config.limits, request.method, resourceIdOf(request));
  }

  private settle(x: Exchange, child: Child, childId: string, event: Event): Promise<Answer> | Answer {
    const { request } = x;
    switch (event.kind) {
      case 'answer':
        this.leases.release(child);
        return { status: 200, message: complete(request, event.message, child.init) };
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
    const state = `${this.deps.instance}.${randomUUID()}`;
    const seconds = this.deps.config.limits.requestTimeoutSeconds;
    const timer = setTimeout(() => this.abandon(state, this.continuations.get(state)), seconds * 1000);
    timer.unref();
    const backlog: JSONRPCMessage[] = [];
    child.lease = (message) => backlog.push(message);
    this.continuations.set(state, {
      child,
      childId,
      owner: who,
      method: request.method,
      name: resourceIdOf(request),
      asked,
      keys: x.keys,
      backlog,
      timer,
    });
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

  /** The client never came back: the child's request is cancelled and the child ended, its state unknown. */
  private abandon(state: string, continuation: Continuation | undefined): void {
    if (!continuation) return;
    clearTimeout(continuation.timer);
    this.continuations.delete(state);
    this.leases.discard(continuation.child);
  }

  private measure(
    request: Request,
    failed: boolean,
    httpStatus: number,
    started: bigint,
    principal?: Principal,
    outcome?: 'input_required',
  ): void {
    const answered = {
      method: request.method,
      resource: resourceIdOf(request),
      started,
      status: failed ? ('error' as const) : ('success' as const),
      statusCode: statusCodeOf(httpStatus),
    };
    recordAnswer(this.deps, answered, { principal: principal?.subject, revision: modernRevision, outcome });
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

/** The `Mcp-Param-*` headers of a request, for a server that checks them itself. */
function paramHeadersFrom(headers: IncomingMessage['headers']): Record<string, string> {
  const entries = Object.entries(headers).filter(([name]) => name.startsWith('mcp-param-'));
  return Object.fromEntries(entries.map(([name, value]) => [name, String(value)]));
}

function accepts(req: IncomingMessage, type: string): boolean {
  return (req.headers.accept ?? '').includes(type);
}

/** The bridge's own requests (the tool list behind `Mcp-Param-*` checks): no principal's key, and no person served. */
const bridgeItself = 'bridge:';

/** A principal's key: children and continuations are theirs alone. Unsigned callers are one person. */
function owner(principal: Principal | undefined): string {
  return principal === undefined ? '' : `${principal.method}:${principal.subject}`;
}

function unavailable(error: unknown): Refusal {
  return { kind: 'upstream_failed', detail: (error as Error).message, busy: error instanceof Busy };
}

function refused(id: RequestId, refusal: Refusal): Answer {
  const wire = toWire(refusal, id);
  return { status: wire.status, message: wire.body as JSONRPCMessage };
}

function send(res: ServerResponse, answer: Answer): void {
  res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.message));
}
