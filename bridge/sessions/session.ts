import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { pinsFromHeader, pinsHeader } from '../../shared/policy/pins.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import {
  isFailure,
  type JSONRPCMessage,
  kindOf,
  listedNames,
  notification,
  paramsOf,
  progressTokenOf,
  type RequestId,
  resourceIdOf,
  resultOf,
} from '../../shared/protocol/jsonrpc.ts';
import { errorOf, type Refusal, refusalResponse, toWire } from '../../shared/protocol/refusal.ts';
import { type SessionConfig, timeoutSeconds } from '../config.ts';
import type { Logger } from '../log.ts';
import { countDrift } from '../metrics/drift.ts';
import {
  type KnownNames,
  type Metrics,
  recordAnswer,
  type SessionEnd,
  type StatusCode,
  statusCodeOf,
} from '../metrics/metrics.ts';
import type { Channel } from '../upstream/channel.ts';
import { oneLine } from '../upstream/lines.ts';
import { type Ahead, ListedAhead, type Said } from '../upstream/primed.ts';
import { withText, writesText } from './events.ts';
import { jsonWhenAnsweredFirst } from './json-answer.ts';
import { OwnAnswers, ownRequest, type PostedRequest } from './post-answer.ts';
import { PostedTexts } from './posted.ts';
import { bridgeRevision, lowered } from './versions.ts';

/** What every session of one configured server shares. */
export interface ServerContext<C extends SessionConfig = SessionConfig> {
  readonly config: C;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly names: KnownNames;
  readonly newSessionId: () => string;
  /** A portal's: which member server a name's metrics belong to (bridge/portal/). */
  readonly attribute?: (resource: string) => { server: string; resource: string } | undefined;
}

interface InFlight {
  readonly method: string;
  readonly resource: string | undefined;
  readonly started: bigint;
  readonly timer: NodeJS.Timeout;
  readonly progressToken: string | number | undefined;
  readonly pins: ReadonlySet<string> | undefined;
}

/** The ids of the requests in a POSTed body (one message, or a 2025-03-26 batch). */
function requestIdsOf(body: unknown): RequestId[] {
  const messages = Array.isArray(body) ? body : [body];
  return messages
    .filter(
      (m): m is { id: RequestId; method: string } => typeof m?.method === 'string' && m.id !== undefined,
    )
    .map((m) => m.id);
}

/** Messages for the session's GET stream that wait for the client to open it; past this, they are not held. */
const maxHeld = 64;

/** Server-to-client messages that concern the whole session rather than one request. */
const sessionWide = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
  'notifications/resources/updated',
]);

/**
 * One MCP session: the SDK's Streamable HTTP server transport on the client side (it opens the
 * session, keeps its GET stream, ends it, and takes what is not one request: a request POSTed
 * alone is answered here, post-answer.ts), a channel to the server on the other, and the
 * requests in flight between them.
 */
export class Session {
  readonly http: WebStandardStreamableHTTPServerTransport;
  private readonly inflight = new Map<RequestId, InFlight>();
  private readonly progress = new Map<string | number, RequestId>();
  private state: 'open' | 'ended' = 'open';
  private lastActivity = Date.now();
  /** The revision agreed at initialize. */
  private revision = bridgeRevision;
  /** Whether the client sent a request after initialize (SDK clients open a GET stream at once: it does not count). */
  private used = false;
  private readonly ctx: ServerContext;
  private readonly channel: Channel;
  private readonly onEnd: (session: Session, reason: SessionEnd) => void;

  private readonly principal: Principal | undefined;
  /** The channel's answer to this client's `initialize`, given ahead (a primed spare): sent, not asked. */
  private primedAnswer: Record<string, unknown> | undefined;
  /** What a spare told `notifications/initialized` ahead said before this client was past `initialize`. */
  private saidAhead: readonly Said[] | undefined;
  /** The child's answer to a `tools/list` asked ahead, for the client's first, until its tools change. */
  private readonly listedAhead: ListedAhead;
  /** Requests and notifications for the GET stream, held until the client opens it (undefined since). */
  private outbox: Said[] | undefined = [];
  /** POSTs of one request the SDK's transport took (initialize) whose answer may still go as JSON: whether something else went on its stream first. */
  private readonly framing = new Map<RequestId, { streamed: boolean }>();
  /** The answers to requests this session took from the SDK's transport's hands. */
  private readonly answers = new OwnAnswers();
  private readonly posted = new PostedTexts();

  constructor(
    ctx: ServerContext,
    channel: Channel,
    principal: Principal | undefined,
    hooks: {
      ahead?: Ahead;
      onInitialized: (session: Session) => void;
      onEnd: (session: Session, reason: SessionEnd) => void;
    },
  ) {
    this.ctx = ctx;
    this.channel = channel;
    this.principal = principal;
    this.primedAnswer = hooks.ahead?.answer;
    this.saidAhead = hooks.ahead?.said;
    this.listedAhead = new ListedAhead(hooks.ahead?.listed);
    this.onEnd = hooks.onEnd;
    this.http = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: ctx.newSessionId,
      onsessioninitialized: () => hooks.onInitialized(this),
    });
    writesText(this.http);
    this.http.onmessage = (message, extra) =>
      this.fromClient(message, pinsFromHeader(extra?.requestInfo?.headers[pinsHeader]?.toString()));
    this.http.onclose = () => void this.end('client');
    this.http.onerror = (error) => ctx.log.log('debug', 'client transport', { error: error.message });
    channel.onmessage = (message, text) => {
      this.listedAhead.heard(message);
      this.fromServer(message, text);
    };
    channel.onexit = (_reason, detail) => this.upstreamExited(detail);
  }

  get id(): string | undefined {
    return this.http.sessionId;
  }

  /** Whether a request from this principal may use the session (the one that opened it only). */
  belongsTo(principal: Principal | undefined): boolean {
    return this.principal?.subject === principal?.subject && this.principal?.method === principal?.method;
  }

  get busy(): boolean {
    return this.inflight.size > 0;
  }

  idleFor(now: number): number {
    return this.busy ? 0 : now - this.lastActivity;
  }

  /**
   * Idle past its bound: `idleTimeoutSeconds`, or the much shorter `unusedSessionSeconds` for a
   * session that was opened and never used (a client that probed and left still holds a child).
   */
  expired(now: number): boolean {
    const { idleTimeoutSeconds, unusedSessionSeconds } = this.ctx.config.limits;
    const seconds = this.used ? idleTimeoutSeconds : Math.min(idleTimeoutSeconds, unusedSessionSeconds);
    return this.idleFor(now) > seconds * 1000;
  }

  handle(request: Request, body: unknown): Promise<Response> {
    // A second request under an id still in flight would get the first one's answer on its
    // stream, where the edge filters by the second one's method: it is refused instead.
    const ids = requestIdsOf(body);
    const reused = ids.find((id) => this.inflight.has(id));
    if (reused !== undefined) {
      const detail = `request id ${JSON.stringify(reused)} is still in progress in this session; use a new id`;
      return Promise.resolve(refusalResponse({ kind: 'invalid_message', detail }, reused));
    }
    const own = this.state === 'open' ? ownRequest(request, body, this.http.sessionId) : undefined;
    if (own !== undefined) return this.answerItself(request, own, body);
    const release = this.posted.hold(body, ids);
    const only = ids.length === 1 && !Array.isArray(body) ? ids[0] : undefined;
    if (only === undefined) {
      const answered = this.http.handleRequest(request, { parsedBody: body }).finally(release);
      return request.method === 'GET' ? answered.then((response) => this.streamOpened(response)) : answered;
    }
    const first = { streamed: false };
    this.framing.set(only, first);
    return this.http
      .handleRequest(request, { parsedBody: body })
      .then((response) => jsonWhenAnsweredFirst(response, () => !first.streamed))
      .finally(() => {
        release();
        if (this.framing.get(only) === first) this.framing.delete(only);
      });
  }

  /**
   * A request on the open session, answered without the SDK's transport: what it would do for
   * one request (check, hand it on, frame what comes back) costs more than the hop to the server.
   */
  private answerItself(request: Request, message: PostedRequest, body: unknown): Promise<Response> {
    const answer = this.answers.open(message.id, this.http.sessionId as string);
    const release = this.posted.hold(body, [message.id]);
    try {
      this.fromClient(message, pinsFromHeader(request.headers.get(pinsHeader) ?? undefined));
    } catch (error) {
      this.answers.drop(message.id);
      throw error;
    } finally {
      release();
    }
    return answer.response;
  }

  /** The client's GET stream is open: what was held for it goes now, and nothing more waits. */
  private streamOpened(response: Response): Response {
    const held = this.outbox;
    if (response.status !== 200 || held === undefined) return response;
    this.outbox = undefined;
    for (const { message, text } of held) this.http.send(withText(message, text)).catch(() => undefined);
    return response;
  }

  async end(reason: SessionEnd): Promise<void> {
    if (this.state === 'ended') return;
    this.state = 'ended';
    for (const entry of this.inflight.values()) clearTimeout(entry.timer);
    this.inflight.clear();
    this.answers.closeAll();
    this.onEnd(this, reason);
    await Promise.allSettled([this.http.close(), this.channel.close()]);
  }

  /** A message from the client; `pins`, for a tools/list the edge sent with its document's pins. */
  private fromClient(message: JSONRPCMessage, pins: ReadonlySet<string> | undefined): void {
    this.lastActivity = Date.now();
    if (this.caughtUp(message)) return;
    let text: string | undefined;
    switch (kindOf(message)) {
      case 'request': {
        const request = message as JSONRPCMessage & { id: RequestId; method: string };
        if (request.method !== 'initialize') this.used = true;
        this.track(request, pins);
        if (request.method === 'initialize' && this.primedAnswer) {
          this.answerAhead(request.id);
          return;
        }
        if (this.listedBefore(request)) return;
        text = this.posted.take(request.id);
        break;
      }
      case 'notification':
        if ('method' in message && message.method === 'notifications/cancelled') {
          const cancelled = paramsOf(message)?.requestId as RequestId | undefined;
          this.forget(cancelled);
          this.answers.drop(cancelled);
        }
        break;
      default:
        break;
    }
    this.channel.send(message, text).catch((error: Error) => {
      if ('id' in message && 'method' in message) {
        this.refuse(message.id, { kind: 'upstream_failed', detail: error.message });
      }
    });
  }

  /**
   * The client is past `initialize`, and its channel was told `notifications/initialized` ahead:
   * what the child said since comes to the client now, as it would have after the client's own
   * `initialized`, which is not passed on a second time. Whether `message` is that one.
   */
  private caughtUp(message: JSONRPCMessage): boolean {
    const said = this.saidAhead;
    if (said === undefined || ('method' in message && message.method === 'initialize')) return false;
    this.saidAhead = undefined;
    for (const { message: spoken, text } of said) this.fromServer(spoken, text);
    return 'method' in message && message.method === 'notifications/initialized';
  }

  /** The client's first `tools/list`, answered with the child's answer to the one asked ahead, if it still holds. */
  private listedBefore(request: JSONRPCMessage & { id: RequestId; method: string }): boolean {
    const answer = this.listedAhead.answer(request);
    if (answer === undefined) return false;
    queueMicrotask(() => this.fromServer(answer.message, answer.text));
    return true;
  }

  private answerAhead(id: RequestId): void {
    const result = this.primedAnswer as Record<string, unknown>;
    this.primedAnswer = undefined;
    queueMicrotask(() => this.fromServer({ jsonrpc: '2.0', id, result }));
  }

  private track(
    request: JSONRPCMessage & { id: RequestId; method: string },
    pins: ReadonlySet<string> | undefined,
  ): void {
    const seconds = timeoutSeconds(this.ctx.config.limits, request.method, resourceIdOf(request));
    const timer = setTimeout(() => this.timedOut(request.id, seconds), seconds * 1000);
    timer.unref();
    const progressToken = progressTokenOf(request);
    if (progressToken !== undefined) this.progress.set(progressToken, request.id);
    this.inflight.set(request.id, {
      method: request.method,
      resource: resourceIdOf(request),
      started: process.hrtime.bigint(),
      timer,
      progressToken,
      pins,
    });
  }

  private forget(id: RequestId | undefined): InFlight | undefined {
    if (id === undefined) return undefined;
    const entry = this.inflight.get(id);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.inflight.delete(id);
    if (entry.progressToken !== undefined) this.progress.delete(entry.progressToken);
    return entry;
  }

  /** `text`: the line it came in, where the channel has it; written as it is if nothing changes it. */
  private fromServer(message: JSONRPCMessage, text?: string): void {
    this.lastActivity = Date.now();
    if (!('id' in message) || 'method' in message) {
      this.toClient(message, this.relatedRequest(message), text);
      return;
    }
    const entry = this.forget(message.id);
    if (!entry) return; // answered already (timed out or cancelled)
    const result = resultOf(message);
    if (entry.method === 'initialize' && typeof result?.protocolVersion === 'string') {
      this.channel.setProtocolVersion(result.protocolVersion);
      this.revision = result.protocolVersion;
    }
    this.ctx.names.learn(entry.method, listedNames(entry.method, result));
    if (entry.method === 'tools/list' && entry.pins) void countDrift(this.ctx, entry.pins, result);
    this.measure(entry, isFailure(message) ? 'error' : 'success', '200');
    // Servers answer in their newest terms whatever they agreed to: an older client gets what it can read.
    const answer = lowered(message, this.revision);
    this.toClient(answer, undefined, answer === message ? text : undefined);
  }

  /** Which open request a server-to-client message belongs to: the POST stream it should travel on. */
  private relatedRequest(message: JSONRPCMessage): RequestId | undefined {
    if (!('method' in message) || sessionWide.has(message.method)) return undefined;
    if (message.method === 'notifications/progress') {
      const token = paramsOf(message)?.progressToken;
      return typeof token === 'string' || typeof token === 'number' ? this.progress.get(token) : undefined;
    }
    return [...this.inflight.keys()].at(-1);
  }

  /** `text`: the line `message` came in, if nothing changed it; written as it is. */
  private toClient(message: JSONRPCMessage, relatedRequestId: RequestId | undefined, text?: string): void {
    const line = oneLine(text);
    if (this.answers.deliver(message, relatedRequestId, line)) return;
    const framing = relatedRequestId === undefined ? undefined : this.framing.get(relatedRequestId);
    if (framing) framing.streamed = true;
    if (relatedRequestId === undefined && this.holds(message, line)) return;
    this.http.send(withText(message, line), { relatedRequestId }).catch(() => {
      // The request's stream is gone (client went away): fall back to the session's GET stream.
      if (relatedRequestId !== undefined && !this.holds(message, line)) {
        this.http.send(withText(message, line)).catch(() => undefined);
      }
    });
  }

  /**
   * A request or notification for the GET stream before the client opened one (the SDK's
   * transport drops it): held for that stream, up to `maxHeld`. A server that asks the client
   * something the moment it is initialized is answered, not left waiting.
   */
  private holds(message: JSONRPCMessage, text: string | undefined): boolean {
    if (this.outbox === undefined || !('method' in message) || this.outbox.length >= maxHeld) return false;
    this.outbox.push({ message, text });
    return true;
  }

  private refuse(id: RequestId, refusal: Refusal): void {
    const entry = this.forget(id);
    if (entry) this.measure(entry, 'error', statusCodeOf(toWire(refusal).status));
    this.toClient(errorOf(refusal, id), undefined);
  }

  private timedOut(id: RequestId, seconds: number): void {
    this.refuse(id, { kind: 'request_timeout', seconds });
    this.channel
      .send(notification('notifications/cancelled', { requestId: id, reason: 'timed out at the bridge' }))
      .catch(() => undefined);
  }

  private upstreamExited(detail: string): void {
    if (this.state === 'ended') return;
    for (const id of [...this.inflight.keys()]) {
      this.refuse(id, {
        kind: 'upstream_exited',
        detail: `${detail}; this session has ended, initialize a new one`,
      });
    }
    void this.end('upstream_exit');
  }

  private measure(entry: InFlight, status: 'success' | 'error', statusCode: StatusCode): void {
    const answered = { ...entry, status, statusCode };
    recordAnswer(this.ctx, answered, { principal: this.principal?.subject, session: this.id });
  }
}
