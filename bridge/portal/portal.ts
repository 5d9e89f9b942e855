import { randomUUID } from 'node:crypto';
import type { Principal } from '../../shared/policy/policy.ts';
import { isMemberName, type Naming, naming, prefixed } from '../../shared/portal/names.ts';
import type { JSONRPCMessage, RequestId } from '../../shared/protocol/jsonrpc.ts';
import { LimitsSchema, type SessionConfig } from '../config.ts';
import { isInitialize, type Outcome, type ServerEndpoint } from '../endpoint.ts';
import { revisionOfPost } from '../incoming.ts';
import type { Logger } from '../log.ts';
import { KnownNames, type Metrics, type SessionEnd } from '../metrics/metrics.ts';
import { type ServerContext, Session } from '../sessions/session.ts';
import { PortalChannel } from './channel.ts';
import type { MemberSource } from './member.ts';
import { PortalStateless } from './stateless.ts';

export const portalName = 'portal';

interface PortalSession {
  readonly session: Session;
  readonly channel: PortalChannel;
}

/**
 * Every member server a caller may use, behind one MCP session (`/mcp`). Which members that is,
 * the edge says on each request (signed); the bridge reaches each member through its own
 * endpoint, so a member's limits, pool and isolation hold in the portal as they do at its own URL.
 */
export class Portal {
  private readonly sessions = new Map<string, PortalSession>();
  private readonly ctx: ServerContext;
  private readonly source: MemberSource;
  private readonly stateless: PortalStateless;
  private state: 'serving' | 'draining' = 'serving';
  private readonly all: readonly string[];
  private readonly signed: boolean;
  private readonly endpoints: ReadonlyMap<string, ServerEndpoint>;

  constructor(
    endpoints: ReadonlyMap<string, ServerEndpoint>,
    deps: { metrics: Metrics; log: Logger; instance: string; signed: boolean },
  ) {
    this.all = [...endpoints.keys()];
    this.stateless = new PortalStateless(endpoints);
    this.signed = deps.signed;
    this.ctx = {
      config: portalConfig(endpoints, prefixed),
      metrics: deps.metrics,
      log: deps.log.child({ server: portalName }),
      names: new KnownNames(),
      newSessionId: () => `${deps.instance}.${randomUUID()}`,
      attribute: attributed(prefixed),
    };
    this.endpoints = endpoints;
    this.source = {
      has: (name) => endpoints.has(name),
      open: (name, asker, hello) => {
        const endpoint = endpoints.get(name);
        if (endpoint === undefined) return Promise.reject(new Error(`no server ${name}`));
        return endpoint.memberChannel(asker, hello);
      },
    };
  }

  get limits(): SessionConfig['limits'] {
    return this.ctx.config.limits;
  }

  /** A request for `/mcp`, for the members the edge lets this caller reach now. */
  async handle(request: Request, body: unknown, principal: Principal | undefined): Promise<Outcome> {
    const url = new URL(request.url);
    const members = this.membersOf(url);
    const names = this.namingOf(url);
    const sessionId = request.headers.get('mcp-session-id') ?? undefined;
    if (sessionId !== undefined) {
      const open = this.sessions.get(sessionId);
      if (!open?.session.belongsTo(principal)) return { ok: false, refusal: { kind: 'unknown_session' } };
      open.channel.allow(members, { request, principal });
      return { ok: true, response: await open.session.handle(request, body) };
    }
    if (request.method === 'POST') {
      const revision = revisionOfPost(request, body);
      if (revision.era === 'refused') return { ok: false, refusal: revision.refusal, id: revision.id };
      if (revision.era === 'modern') {
        if (!('id' in revision.message)) return { ok: true, response: new Response(null, { status: 202 }) };
        const message = revision.message as JSONRPCMessage & { id: RequestId; method: string };
        return this.stateless.handle(request, message, principal, members, names);
      }
    }
    if (request.method !== 'POST' || !isInitialize(body))
      return { ok: false, refusal: { kind: 'missing_session' } };
    if (this.state === 'draining') return { ok: false, refusal: { kind: 'draining', retryAfterSeconds: 1 } };
    if (this.sessions.size >= this.limits.maxSessions) {
      return { ok: false, refusal: { kind: 'too_many_sessions', retryAfterSeconds: 5 } };
    }
    const channel = new PortalChannel(this.source, members, names, { request, principal });
    const ctx = { ...this.ctx, config: portalConfig(this.endpoints, names), attribute: attributed(names) };
    const session = new Session(ctx, channel, principal, {
      onInitialized: (s) => {
        if (s.id !== undefined) this.sessions.set(s.id, { session: s, channel });
      },
      onEnd: (s, reason) => this.ended(s, reason),
    });
    const response = await session.handle(request, body);
    if (session.id === undefined || !this.sessions.has(session.id)) await session.end('client');
    return { ok: true, response };
  }

  /**
   * The members named in the query (`?servers=a,b`), which the edge's signature covers; without
   * signing (a bridge used directly, on loopback), every configured server unless narrowed.
   */
  private membersOf(url: URL): ReadonlySet<string> {
    const named = url.searchParams.get('servers');
    if (named === null) return this.signed ? new Set() : new Set(this.all);
    return new Set(named.split(',').filter((name) => this.all.includes(name)));
  }

  /** Whose names this portal serves unprefixed (`?unprefixed=a`, from the named portal's document). */
  private namingOf(url: URL): Naming {
    const unprefixed = url.searchParams.get('unprefixed');
    return unprefixed !== null && isMemberName(unprefixed) ? naming(unprefixed) : prefixed;
  }

  private ended(session: Session, reason: SessionEnd): void {
    if (session.id === undefined || this.sessions.get(session.id)?.session !== session) return;
    this.sessions.delete(session.id);
    this.ctx.metrics.sessionsEnded.inc({ server: portalName, reason });
  }

  reapIdle(now = Date.now()): void {
    for (const { session } of this.sessions.values()) if (session.expired(now)) void session.end('idle');
  }

  get busy(): boolean {
    return [...this.sessions.values()].some(({ session }) => session.busy);
  }

  stopAccepting(): void {
    this.state = 'draining';
  }

  async close(): Promise<void> {
    this.state = 'draining';
    await Promise.all([...this.sessions.values()].map(({ session }) => session.end('drain')));
  }
}

/** A call's metrics are its member's: server="everything", tool="echo", as at its own URL. */
function attributed(names: Naming): ServerContext['attribute'] {
  return (resource) => {
    const named = prefixed.ofName(resource) ?? prefixed.ofUri(resource) ?? names.ofName(resource);
    return named === undefined ? undefined : { server: named.member, resource: named.name };
  };
}

/** The portal's bounds: the longest of its members', and each member's tool bounds under the portal's names. */
function portalConfig(endpoints: ReadonlyMap<string, ServerEndpoint>, names: Naming): SessionConfig {
  const members = [...endpoints.values()];
  const toolTimeoutSeconds: Record<string, number> = {};
  for (const member of members) {
    for (const [tool, seconds] of Object.entries(member.limits.toolTimeoutSeconds)) {
      toolTimeoutSeconds[names.name(member.name, tool)] = seconds;
    }
  }
  const longest = (pick: (limits: SessionConfig['limits']) => number, fallback: number) =>
    Math.max(fallback, ...members.map((member) => pick(member.limits)));
  const limits = LimitsSchema.parse({
    requestTimeoutSeconds: longest((l) => l.requestTimeoutSeconds, 1),
    idleTimeoutSeconds: longest((l) => l.idleTimeoutSeconds, 1),
    maxBodyBytes: longest((l) => l.maxBodyBytes, 1024),
    toolTimeoutSeconds,
  });
  return { name: portalName, transport: { type: 'portal' }, limits };
}
