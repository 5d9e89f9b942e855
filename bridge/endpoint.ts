import { randomUUID } from 'node:crypto';
import type { Principal } from '../shared/policy/policy.ts';
import type { RequestId } from '../shared/protocol/jsonrpc.ts';
import type { Refusal } from '../shared/protocol/refusal.ts';
import { redact } from '../shared/security/redact.ts';
import type { ServerConfig } from './config.ts';
import type { Credential } from './identity/credential.ts';
import { ExchangeError } from './identity/exchange.ts';
import { type Identity, personOf, serviceIdentity } from './identity/identity.ts';
import { requestStateOf, revisionOfPost } from './incoming.ts';
import type { Logger } from './log.ts';
import { KnownNames, type Metrics, type SessionEnd } from './metrics/metrics.ts';
import type { Asker, MemberChannel } from './portal/member.ts';
import { type ServerContext, Session } from './sessions/session.ts';
import { StatelessServer } from './stateless/stateless.ts';
import type { Channel } from './upstream/channel.ts';
import { upstreamFactory } from './upstream/connect.ts';
import type { MemoryBudget } from './upstream/memory.ts';
import { Multiplexer } from './upstream/multiplex.ts';
import { type Ahead, type Hello, helloOf } from './upstream/primed.ts';
import { type ServerStatus, Supply } from './upstream/supply.ts';

export type Outcome =
  | { ok: true; response: Response }
  | { ok: false; refusal: Refusal; id?: RequestId | null };

const refuse = (refusal: Refusal): Outcome => ({ ok: false, refusal });

/** A session's channel, and what it did ahead of the client when it is a primed spare. */
interface Opened {
  readonly channel: Channel;
  readonly ahead?: Ahead;
}

/**
 * One configured MCP server: its sessions, where their channels come from (an upstream of
 * their own from the supply, or a share of the multiplexer's), its limits and its lifecycle.
 */
export class ServerEndpoint {
  private readonly sessions = new Map<string, Session>();
  /** Sessions being opened: counted against the limit before their channel is ready. */
  private opening = 0;
  /** Channels held by portal sessions (bridge/portal/): sessions of this server too. */
  private portalMembers = 0;
  private readonly ctx: ServerContext<ServerConfig>;
  private readonly supply: Supply;
  private readonly mux: Multiplexer | undefined;
  /** MCP 2026-07-28 clients, which bring no session: children of their own, leased per request. */
  private readonly stateless: StatelessServer;
  private state: 'serving' | 'draining' = 'serving';

  private readonly memory: MemoryBudget;
  private readonly identity: Identity;
  /** Each session's person's credential, for a server that acts as each person. */
  private readonly credentials = new Map<string, Credential>();

  constructor(
    config: ServerConfig,
    deps: { metrics: Metrics; log: Logger; instance: string; memory: MemoryBudget; identity?: Identity },
  ) {
    this.identity = deps.identity ?? serviceIdentity;
    this.ctx = {
      config,
      metrics: deps.metrics,
      log: deps.log.child({ server: config.name }),
      names: new KnownNames(),
      newSessionId: () => `${deps.instance}.${randomUUID()}`,
    };
    this.memory = deps.memory;
    const factory = upstreamFactory(config, deps.log, deps.metrics, deps.memory);
    // A person's own upstream starts with their credential: no anonymous spares to give them.
    const personal = this.identity.mode !== 'service';
    const spares =
      config.transport.type === 'stdio' && config.sessions === 'isolated' && !personal ? config.pool : 0;
    this.supply = new Supply(factory, {
      spares,
      idleSeconds: config.poolIdleSeconds,
      server: config.name,
      ...deps,
    });
    this.stateless = new StatelessServer(this.supply, {
      ...deps,
      config,
      log: this.ctx.log,
      names: this.ctx.names,
    });
    if (config.sessions === 'shared') this.mux = new Multiplexer(this.supply);
  }

  get name(): string {
    return this.ctx.config.name;
  }

  get limits(): ServerConfig['limits'] {
    return this.ctx.config.limits;
  }

  get ready(): boolean {
    return this.state === 'serving' && this.supply.ready;
  }

  get status(): ServerStatus {
    return this.supply.status;
  }

  private unavailable(): Outcome {
    const status = this.status;
    return refuse({
      kind: 'upstream_unavailable',
      reason: status.state === 'failing' ? status.reason : undefined,
    });
  }

  /** Each session gets a stdio child of its own. */
  private get spawnsPerSession(): boolean {
    return this.ctx.config.transport.type === 'stdio' && this.ctx.config.sessions === 'isolated';
  }

  get openSessions(): number {
    return this.sessions.size + this.opening + this.portalMembers;
  }

  start(): void {
    this.supply.fill();
  }

  /** An HTTP request for `/<server>/mcp`, its JSON body (POST) already read and parsed. */
  async handle(request: Request, body: unknown, principal?: Principal): Promise<Outcome> {
    const sessionId = request.headers.get('mcp-session-id') ?? undefined;
    if (sessionId !== undefined) {
      const session = this.sessions.get(sessionId);
      // Another principal's session id is as good as unknown: it must not learn the session exists.
      if (!session?.belongsTo(principal)) return refuse({ kind: 'unknown_session' });
      const credential = this.credentials.get(sessionId);
      if (credential !== undefined) {
        const failed = await this.attempt(() => this.identity.freshen(credential, request, principal));
        if (failed) return failed;
      }
      return { ok: true, response: await session.handle(request, body) };
    }
    if (request.method === 'POST') {
      const revision = revisionOfPost(request, body);
      if (revision.era === 'refused') return { ok: false, refusal: revision.refusal, id: revision.id };
      if (revision.era === 'modern') {
        // A retry bringing input may only be served here, where its child waits: a drain lets it in.
        const continues = requestStateOf(body) !== undefined;
        if (this.state === 'draining' && !continues)
          return refuse({ kind: 'draining', retryAfterSeconds: 1 });
        const person = personOf(this.identity, request, principal);
        return { ok: true, response: await this.stateless.handle(request, revision, principal, person) };
      }
    }
    if (request.method !== 'POST' || !isInitialize(body)) return refuse({ kind: 'missing_session' });
    if (this.state === 'draining') return refuse({ kind: 'draining', retryAfterSeconds: 1 });
    // A command that keeps dying gets no extra spawn per client; the supply's backoff retries it.
    if (this.supply.refusing) return this.unavailable();
    if (this.openSessions >= this.ctx.config.limits.maxSessions) {
      return refuse({ kind: 'too_many_sessions', retryAfterSeconds: 5 });
    }
    if (this.spawnsPerSession) {
      const admission = this.memory.admits();
      if (!admission.ok) {
        this.ctx.log.log('info', 'session refused: near the memory limit', admission);
        return refuse({ kind: 'memory_full', retryAfterSeconds: 5 });
      }
    }
    return this.open(request, body, principal);
  }

  private async open(request: Request, body: unknown, principal: Principal | undefined): Promise<Outcome> {
    // The slot is taken before the channel is ready, so that a burst cannot overshoot the limit.
    this.opening += 1;
    let reserved = true;
    const release = () => {
      if (reserved) this.opening -= 1;
      reserved = false;
    };
    try {
      let credential: Credential | undefined;
      const failed = await this.attempt(async () => {
        credential = await this.identity.open(request, principal);
      });
      if (failed) return failed;
      let opened: Opened;
      try {
        opened = await this.channel(credential, helloOf((body as { params?: unknown }).params));
      } catch (error) {
        credential?.close();
        this.ctx.log.log('error', 'cannot reach MCP server', { error: redact((error as Error).message) });
        return this.unavailable();
      }
      const session = new Session(this.ctx, opened.channel, principal, {
        ahead: opened.ahead,
        onInitialized: (s) => {
          release();
          this.admit(s);
          if (s.id !== undefined && credential !== undefined) this.credentials.set(s.id, credential);
        },
        onEnd: (s, reason) => this.ended(s, reason),
      });
      const response = await session.handle(request, body);
      if (session.id === undefined || !this.sessions.has(session.id)) await session.end('client');
      return { ok: true, response };
    } finally {
      release();
    }
  }

  /**
   * A channel for a portal session's use of this server, admitted as a session of its own would
   * be (not while draining, crash-looping or near the memory limit).
   */
  async memberChannel(asker: Asker, hello?: Hello): Promise<MemberChannel> {
    if (this.state === 'draining') throw new Error('the bridge is draining');
    const status = this.status;
    if (this.supply.refusing) throw new Error(status.state === 'failing' ? status.reason : 'unavailable');
    if (this.openSessions >= this.ctx.config.limits.maxSessions)
      throw new Error('too many sessions for this server; retry later');
    if (this.spawnsPerSession && !this.memory.admits().ok)
      throw new Error('the bridge is near its memory limit');
    // Counted as a session of this server from now until the portal session releases it.
    this.portalMembers += 1;
    let opened = false;
    let counted = true;
    const release = () => {
      if (counted) this.portalMembers -= 1;
      if (counted && opened) this.gauges(-1);
      counted = false;
    };
    let credential: Credential | undefined;
    try {
      credential = await this.identity.open(asker.request, asker.principal);
      const { channel, ahead } = await this.channel(credential, hello);
      // In the gauges too (sessions, connections, busy children), as a session of its own is.
      opened = counted;
      if (opened) this.gauges(1);
      const own = credential;
      if (own === undefined) return { channel, release, ahead };
      return { channel, release, ahead, refresh: (a) => this.identity.freshen(own, a.request, a.principal) };
    } catch (error) {
      credential?.close();
      release();
      throw error;
    }
  }

  private async channel(credential?: Credential, hello?: Hello): Promise<Opened> {
    if (this.mux) return { channel: await this.mux.open() };
    const { upstream, ahead } = await this.supply.forSession(hello, credential);
    return { channel: upstream, ahead };
  }

  /** The person's credential step: a refusal that says why, never the token. */
  private async attempt(step: () => Promise<void>): Promise<Outcome | undefined> {
    try {
      await step();
      return undefined;
    } catch (error) {
      if (!(error instanceof ExchangeError)) throw error;
      this.ctx.log.log('warn', 'no credential of the caller', { error: error.message });
      if (!error.refused) return refuse({ kind: 'upstream_unavailable', reason: error.message });
      return refuse({ kind: 'identity_refused', server: this.name, detail: error.message });
    }
  }

  private admit(session: Session): void {
    if (session.id === undefined) return;
    this.sessions.set(session.id, session);
    this.gauges(1);
  }

  private ended(session: Session, reason: SessionEnd): void {
    if (session.id === undefined || this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    this.credentials.delete(session.id);
    this.gauges(-1);
    this.ctx.metrics.sessionsEnded.inc({ server: this.name, reason });
  }

  private gauges(delta: number): void {
    const { config, metrics } = this.ctx;
    metrics.activeConnections.inc({ server: config.name, transport: config.transport.type }, delta);
    metrics.sessions.inc({ server: config.name, mode: config.sessions }, delta);
    if (config.transport.type === 'stdio' && config.sessions === 'isolated') {
      metrics.children.inc({ server: config.name, state: 'busy' }, delta);
    }
  }

  /** Ends sessions idle past their bound (shorter for one never used after initialize). */
  reapIdle(now = Date.now()): void {
    for (const session of this.sessions.values()) {
      if (session.expired(now)) void session.end('idle');
    }
    this.stateless.reapIdle();
  }

  get busy(): boolean {
    return [...this.sessions.values()].some((s) => s.busy) || this.opening > 0 || this.stateless.busy;
  }

  /** Stop taking sessions; in-flight requests may still finish. */
  stopAccepting(): void {
    this.state = 'draining';
  }

  async close(): Promise<void> {
    this.state = 'draining';
    await Promise.all([...this.sessions.values()].map((s) => s.end('drain')));
    await Promise.all([this.mux?.close(), this.stateless.close(), this.supply.close()]);
  }
}

export function isInitialize(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { method?: unknown }).method === 'initialize';
}
