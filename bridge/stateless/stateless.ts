import { pinsFromHeader, pinsHeader } from '../../shared/policy/pins.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import {
  isFailure,
  listedNames,
  modernClientRequestMethods,
  paramsOf,
  progressTokenOf,
  resourceIdOf,
  resultOf,
} from '../../shared/protocol/jsonrpc.ts';
import { metaKeys, modernRevision, type Revision } from '../../shared/protocol/revision.ts';
import type { ServerConfig } from '../config.ts';
import type { Person } from '../identity/identity.ts';
import type { Logger } from '../log.ts';
import { countDrift } from '../metrics/drift.ts';
import {
  type KnownNames,
  type Metrics,
  recordAnswer,
  recordLeases,
  statusCodeOf,
} from '../metrics/metrics.ts';
import { ChildLeases } from '../upstream/leases.ts';
import type { MemoryBudget } from '../upstream/memory.ts';
import type { Supply } from '../upstream/supply.ts';
import { bridgeItself, Conversations, type Exchange, owner, refused, unavailable } from './conversation.ts';
import { ListenStreams } from './listen.ts';
import { ParamHeaderChecks } from './param-headers.ts';
import { Passthrough } from './passthrough.ts';
import { Keys, type Request } from './translate.ts';
import { type Answer, EventStream, jsonAnswer } from './writer.ts';

type Modern = Extract<Revision, { era: 'modern' }>;

/** Who a request is asked for: its caller, and for a server that acts as each person, as them. */
interface Asker {
  who: string;
  person: Person | undefined;
}

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
  private readonly conversations: Conversations;
  private readonly listeners: ListenStreams;
  private inflight = 0;
  private readonly paramHeaders = new ParamHeaderChecks<Asker>((asker) => this.toolList(asker));
  private readonly deps: Deps;

  /** Set for Streamable HTTP servers, which may speak 2026-07-28 themselves. */
  private readonly native: Passthrough | undefined;

  constructor(supply: Supply, deps: Deps) {
    this.deps = deps;
    const transport = deps.config.transport;
    // A server that acts as each person is reached through clients of the bridge's own, as each person.
    const personal = deps.config.identity.mode !== 'service';
    if (transport.type === 'streamable-http' && !personal) {
      this.native = new Passthrough(transport.url, transport.headers, deps.log);
    }
    const { limits, pool } = deps.config;
    this.leases = new ChildLeases(supply, {
      max: limits.maxSessions,
      keep: Math.max(1, pool),
      personal,
      bind: deps.config.sessions === 'isolated',
      log: deps.log,
      roomForOne: () => deps.memory.admits().ok,
    });
    this.conversations = new Conversations(this.leases, deps.config, deps.instance);
    this.listeners = new ListenStreams(limits.maxSessions);
    this.leases.onBroadcast = (message) => this.listeners.broadcast(message);
    this.leases.onCount = (counts) => recordLeases(deps.metrics, deps.config.name, counts);
  }

  /** Requests running, or waiting for their client's input: what a drain waits for. */
  get busy(): boolean {
    return this.inflight > 0 || this.conversations.continuations.size > 0;
  }

  /** One 2026-07-28 request, its body already read and its revision checked: its answer. */
  async handle(
    http: globalThis.Request,
    modern: Modern,
    principal?: Principal,
    person?: Person,
  ): Promise<Response> {
    const message = modern.message;
    if (!('id' in message)) return new Response(null, { status: 202 });
    const request = message as Request;
    const started = process.hrtime.bigint();
    if (await this.native?.speaksModern()) return this.pass(http, modern, started, principal);
    if (!modernClientRequestMethods.has(request.method)) {
      return jsonAnswer(
        refused(request.id, { kind: 'unknown_method', method: request.method, stateless: true }),
      );
    }
    if (request.method === 'server/discover') return this.discover(request, owner(principal), person);
    if (request.method === 'subscriptions/listen') return this.listeners.open(request);
    this.inflight += 1;
    let streaming = false;
    try {
      if (request.method === 'tools/call') {
        const mismatch = await this.paramHeaders.mismatch(http.headers, request, {
          who: owner(principal),
          person,
        });
        if (mismatch) return jsonAnswer(refused(request.id, { kind: 'header_mismatch', detail: mismatch }));
      }
      const x: Exchange = {
        request,
        capabilities: modern.clientCapabilities,
        who: owner(principal),
        ...(person === undefined ? {} : { person }),
        keys: new Keys(),
        gone: http.signal,
      };
      const pins = pinsFromHeader(http.headers.get(pinsHeader));
      // Progress asked for and an event stream accepted: the answer streams, progress first.
      if (progressTokenOf(request) !== undefined && accepts(http, 'text/event-stream')) {
        streaming = true;
        return this.stream(x, started, principal, pins);
      }
      return jsonAnswer(await this.answer(x, started, principal, pins));
    } finally {
      if (!streaming) this.inflight -= 1;
    }
  }

  /** The answer written as events: progress notices as they come, then the answer. */
  private stream(
    x: Exchange,
    started: bigint,
    principal: Principal | undefined,
    pins: ReadonlySet<string> | undefined,
  ): Response {
    const events = new EventStream();
    x.notice = (message) => events.write(message);
    this.answer(x, started, principal, pins)
      .then(
        (answer) => events.end(answer.message, answer.text),
        // Whatever went wrong, the stream ends with an answer, never open and silent.
        () => events.end(refused(x.request.id, { kind: 'internal_error' }).message),
      )
      .finally(() => {
        this.inflight -= 1;
      });
    return events.response;
  }

  /** `pins`: for a tools/list the edge sent with its document's pins, what the listed tools should match. */
  private async answer(
    x: Exchange,
    started: bigint,
    principal: Principal | undefined,
    pins?: ReadonlySet<string>,
  ): Promise<Answer> {
    const { request } = x;
    const answer = await this.conversations.run(x);
    const result = resultOf(answer.message);
    this.deps.names.learn(request.method, listedNames(request.method, result));
    if (request.method === 'tools/list' && pins) void countDrift(this.deps, pins, result);
    const listed = request.method === 'tools/list' && !paramsOf(request)?.cursor;
    if (listed && result?.resultType === 'complete') this.paramHeaders.learn(result);
    const outcome = result?.resultType === 'input_required' ? 'input_required' : undefined;
    this.measure(request, isFailure(answer.message), answer.status, started, principal, outcome);
    return answer;
  }

  /** A server that speaks 2026-07-28 itself: the request goes to it as it is, the answer streams back. */
  private async pass(
    http: globalThis.Request,
    modern: Modern,
    started: bigint,
    principal?: Principal,
  ): Promise<Response> {
    const request = modern.message as Request;
    this.inflight += 1;
    try {
      const response = await this.native?.forward(modern, paramHeadersFrom(http.headers), http.signal);
      if (response === undefined) throw new Error('no native server');
      this.measure(request, response.status >= 400, response.status, started, principal);
      return response;
    } catch (error) {
      this.measure(request, true, 502, started, principal);
      return jsonAnswer(refused(request.id, unavailable(error)));
    } finally {
      this.inflight -= 1;
    }
  }

  /** The server's complete tool list, asked of a child like any request, for the `Mcp-Param-*` marks. */
  private async toolList(asker: Asker): Promise<Record<string, unknown> | undefined> {
    const listing = { jsonrpc: '2.0', id: 'bridge-tools-list', method: 'tools/list', params: {} } as Request;
    // A server that acts as each person has no one of its own to list for: the caller asks.
    const as = asker.person === undefined ? { who: bridgeItself } : { who: asker.who, person: asker.person };
    const answer = await this.conversations.run({
      request: listing,
      capabilities: {},
      keys: new Keys(),
      ...as,
    });
    const result = resultOf(answer.message);
    return result?.resultType === 'complete' ? result : undefined;
  }

  async close(): Promise<void> {
    this.listeners.closeAll();
    this.conversations.continuations.dropAll();
    await this.leases.close();
  }

  reapIdle(): void {
    this.leases.reapIdle(this.deps.config.limits.idleTimeoutSeconds * 1000);
  }

  private async discover(request: Request, who: string, person: Person | undefined): Promise<Response> {
    let init: Record<string, unknown>;
    try {
      init = await (person === undefined ? this.leases.initResult() : this.leases.initResult(who, person));
    } catch (error) {
      return jsonAnswer(refused(request.id, unavailable(error, this.deps.config.name)));
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
    return jsonAnswer({ status: 200, message: { jsonrpc: '2.0', id: request.id, result } });
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

/** The `Mcp-Param-*` headers of a request, for a server that checks them itself. */
function paramHeadersFrom(headers: Headers): Record<string, string> {
  return Object.fromEntries([...headers].filter(([name]) => name.startsWith('mcp-param-')));
}

function accepts(http: globalThis.Request, type: string): boolean {
  return (http.headers.get('accept') ?? '').includes(type);
}
