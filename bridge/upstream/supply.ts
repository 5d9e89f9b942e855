import { redact } from '../../shared/security/redact.ts';
import type { Credential } from '../identity/credential.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { Backoff } from './backoff.ts';
import { Child } from './child.ts';
import { initialize, warmUp } from './handshake.ts';
import { type Ahead, type Hello, type Primed, prime } from './primed.ts';
import type { Upstream, UpstreamFactory } from './upstream.ts';

/** What /readyz, the npm start banner and a refused client are told about one server. */
export type ServerStatus = { state: 'ready' | 'starting' } | { state: 'failing'; reason: string };

const refillDelayMs = 100;
/** How many kinds of client the pool remembers: a session of one of them is primed for. */
const recentKeys = 8;
const resting = 'the MCP server keeps failing to start; the bridge will try again shortly';

/**
 * Where one server's upstreams come from, for every user of them: isolated sessions take one
 * each, the 2026-07-28 leases take initialized ones, the multiplexer takes one for all. The
 * supply spawns, keeps `spares` warm (pinged, not initialized) so that no one waits for a process
 * to boot, and backs off a command that keeps failing, so that it never spins, whoever asks.
 * Spares follow demand: after `idleSeconds` without a taker they go (an idle bridge holds no
 * children), and the next taker brings them back. All but one spare are primed with the latest
 * `initialize` that repeated (bridge/upstream/primed.ts); the plain one serves anyone else.
 */
export class Supply {
  /** Pinged, not initialized: for anyone. */
  private readonly warm: Upstream[] = [];
  /** Initialized with a session's `initialize` params, for a session sending the same ones. */
  private readonly primed: Primed[] = [];
  private starting = 0;
  private priming = 0;
  /** The latest session's `initialize` that a recent session sent too: what spares are primed with. */
  private hello: Hello | undefined;
  /** The keys of recent sessions' `initialize` params, newest last. */
  private readonly recent: string[] = [];
  private readonly backoff = new Backoff();
  private everReady = false;
  private lastFailure: string | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private state: 'filling' | 'backoff' | 'closed' = 'filling';
  private readonly spares: number;
  private readonly idleMs: number;
  private idleTimer: NodeJS.Timeout | undefined;
  /** The spares were let go after a quiet period: none is started until someone takes one. */
  private drained = false;
  private readonly spawn: UpstreamFactory;
  private readonly server: string;
  private readonly metrics: Metrics;
  private readonly log: Logger;

  constructor(
    spawn: UpstreamFactory,
    options: { spares: number; idleSeconds?: number; server: string; metrics: Metrics; log: Logger },
  ) {
    this.spares = options.spares;
    this.idleMs = (options.idleSeconds ?? 0) * 1000;
    this.spawn = spawn;
    this.server = options.server;
    this.metrics = options.metrics;
    this.log = options.log;
  }

  get status(): ServerStatus {
    if (this.lastFailure !== undefined) return { state: 'failing', reason: this.lastFailure };
    return { state: this.spares > 0 && !this.everReady ? 'starting' : 'ready' };
  }

  /**
   * Spawn nothing now: the command keeps failing and no spare is alive. A supply that keeps
   * spares retries by itself until one starts; one that does not retries on the next request
   * after its rest.
   */
  get refusing(): boolean {
    if (this.warm.length + this.primed.length > 0) return false;
    return this.spares > 0 ? this.backoff.crashLooping : this.backoff.resting();
  }

  /** For /readyz: only a supply that keeps spares knows, without a request, that it cannot. */
  get ready(): boolean {
    return !(this.spares > 0 && this.refusing);
  }

  fill(): void {
    this.restAfterQuiet();
    while (this.state === 'filling' && !this.drained && this.pooled + this.starting < this.spares) {
      this.starting += 1;
      this.spawn()
        .then(warmUp)
        .then(
          (upstream) => this.started(upstream),
          (error: Error) => {
            this.starting -= 1;
            this.failed('child failed to start', error.message);
          },
        );
    }
  }

  /** Spares in the pool or on their way into it (started, being primed). */
  private get pooled(): number {
    return this.warm.length + this.primed.length + this.priming;
  }

  /**
   * An upstream for a client's session opened with `hello`: a spare primed with the very same
   * `initialize`, with what it did ahead, if there is one; else as `take`.
   */
  async forSession(
    hello: Hello | undefined,
    credential?: Credential,
  ): Promise<{ upstream: Upstream; ahead?: Ahead }> {
    if (credential !== undefined || hello === undefined || this.spares < 2 || !this.repeats(hello)) {
      return { upstream: await this.take(credential, 'session') };
    }
    this.hello = hello;
    const index = this.primed.findIndex((p) => p.key === hello.key);
    if (index === -1) {
      this.makeRoomFor();
      const taken = this.take(undefined, 'session');
      this.primeSpares();
      return { upstream: await taken };
    }
    const [primed] = this.primed.splice(index, 1) as [Primed];
    this.demanded();
    this.metrics.sessionStarts.inc({ server: this.server, child: 'primed' });
    return { upstream: this.handOut(primed.upstream), ahead: primed.ahead };
  }

  /** An upstream for one user: a warm spare if there is one, else one started now; a person's own is always new. */
  async take(credential?: Credential, counted?: 'session'): Promise<Upstream> {
    const upstream = credential === undefined ? this.warm.shift() : undefined;
    this.demanded();
    const count = (child: 'warm' | 'spawned') =>
      counted && this.metrics.sessionStarts.inc({ server: this.server, child });
    if (upstream) {
      count('warm');
      return this.handOut(upstream);
    }
    if (this.backoff.resting()) throw new Error(resting);
    count('spawned');
    try {
      const started = await this.spawn(credential);
      this.lastFailure = undefined;
      return started;
    } catch (error) {
      this.fault((error as Error).message);
      throw error;
    }
  }

  /**
   * Whether a recent session sent the same params: only those are primed for, so that params
   * unique to each session (a client that sends an id in them) cost no spawn they never repay.
   */
  private repeats(hello: Hello): boolean {
    const seen = this.forget(hello.key);
    this.recent.push(hello.key);
    if (this.recent.length > recentKeys) this.recent.shift();
    return seen;
  }

  /** Drops a key from the recent ones; whether it was there. */
  private forget(key: string): boolean {
    const index = this.recent.indexOf(key);
    if (index !== -1) this.recent.splice(index, 1);
    return index !== -1;
  }

  /** Whether fewer spares are primed (or being primed) than their share: all but one. */
  private get primedBelowShare(): boolean {
    return this.primed.length + this.priming < this.spares - 1;
  }

  /** Whether a spare that just came up is still wanted (not closing, not let go). */
  private get keeping(): boolean {
    return this.state !== 'closed' && !this.drained;
  }

  private demanded(): void {
    this.drained = false;
    if (this.spares === 0) return;
    this.report();
    // spawn() blocks the event loop for a few ms (fork + exec): refill after this one is in use.
    setTimeout(() => this.fill(), refillDelayMs).unref();
  }

  private handOut(upstream: Upstream): Upstream {
    upstream.onexit = undefined;
    this.backoff.succeeded();
    return upstream;
  }

  /**
   * A session whose `initialize` no primed spare matches: when the primed ones fill their share,
   * the longest kept goes, so that the refill primes one for this client's kind.
   */
  private makeRoomFor(): void {
    if (this.primedBelowShare) return;
    const stale = this.primed.shift();
    if (stale === undefined) return;
    stale.upstream.onexit = undefined;
    void stale.upstream.close();
  }

  /** An upstream the bridge initialized as its own client (2026-07-28 clients bring no session). */
  async initialized(credential?: Credential): Promise<Child> {
    const upstream = await this.take(credential);
    try {
      const child = new Child(upstream, await initialize(upstream));
      this.backoff.succeeded();
      return child;
    } catch (error) {
      this.fault((error as Error).message);
      await upstream.close();
      throw error;
    }
  }

  /** An upstream taken from here failed before it served anyone: the command may be broken. */
  fault(reason: string): void {
    this.lastFailure = redact(reason);
    this.backoff.failed();
  }

  /** An upstream taken from here served someone: the command works. */
  proven(): void {
    this.lastFailure = undefined;
    this.backoff.succeeded();
  }

  async close(): Promise<void> {
    this.state = 'closed';
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
    const children = this.letGoAll();
    if (this.spares > 0) this.report();
    await Promise.all(children.map((child) => child.close()));
  }

  private started(upstream: Upstream): void {
    this.starting -= 1;
    if (!this.keeping) {
      void upstream.close();
      return;
    }
    this.watchExit(upstream);
    this.everReady = true;
    this.lastFailure = undefined;
    this.warm.push(upstream);
    this.primeSpares();
    this.report();
  }

  private watchExit(upstream: Upstream): void {
    upstream.onexit = (_reason, detail) => {
      const index = this.warm.indexOf(upstream);
      if (index !== -1) this.warm.splice(index, 1);
      const primed = this.primed.findIndex((p) => p.upstream === upstream);
      if (primed !== -1) this.primed.splice(primed, 1);
      this.report();
      this.failed('warm child exited before use', `before it was used, ${detail}`);
    };
  }

  /** Primes spares with the latest repeated `initialize`, up to all but one: that one stays plain. */
  private primeSpares(): void {
    const hello = this.hello;
    while (hello && this.primedBelowShare && this.warm.length > 1) {
      const upstream = this.warm.shift() as Upstream;
      this.priming += 1;
      prime(upstream, hello).then(
        (primed) => this.wasPrimed(primed),
        (error: Error) => this.notPrimed(upstream, hello, error),
      );
    }
  }

  private wasPrimed(primed: Primed): void {
    this.priming -= 1;
    if (!this.keeping) {
      void primed.upstream.close();
      return;
    }
    this.watchExit(primed.upstream);
    this.primed.push(primed);
    this.report();
  }

  /**
   * A spare that ended or refused at a session's `initialize`, sent ahead. That is the params'
   * doing (a client's), not the command's: it answered its ping. So it is no failure of the
   * supply, and those params are not primed for again until they repeat twice more.
   */
  private notPrimed(upstream: Upstream, hello: Hello, error: Error): void {
    this.priming -= 1;
    if (this.hello === hello) this.hello = undefined;
    this.forget(hello.key);
    this.log.log('info', "a spare ended or refused a session's initialize, sent ahead", {
      server: this.server,
      reason: redact(error.message),
    });
    void upstream.close();
    this.report();
    this.fill();
  }

  private letGoAll(): Upstream[] {
    const children = [...this.warm.splice(0), ...this.primed.splice(0).map((p) => p.upstream)];
    for (const child of children) child.onexit = undefined;
    return children;
  }

  /** The quiet period starts again: at its end without a taker, the spares go. */
  private restAfterQuiet(): void {
    if (this.spares === 0 || this.idleMs <= 0) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.letGo(), this.idleMs);
    this.idleTimer.unref();
  }

  private letGo(): void {
    if (this.state === 'closed') return;
    this.drained = true;
    const children = this.letGoAll();
    this.report();
    if (children.length > 0)
      this.log.log('info', 'warm pool let go after a quiet period', {
        server: this.server,
        children: children.length,
      });
    void Promise.all(children.map((child) => child.close()));
  }

  /** Said at warn, with the reason (exit code, last stderr lines): the person starting it must see why. */
  private failed(what: string, reason: string): void {
    this.lastFailure = reason;
    this.log.log('warn', what, { server: this.server, reason });
    this.backOff();
  }

  private backOff(): void {
    if (this.state !== 'filling') return;
    this.state = 'backoff';
    const delay = this.backoff.failed();
    this.retryTimer = setTimeout(() => {
      if (this.state !== 'backoff') return;
      this.state = 'filling';
      this.fill();
    }, delay);
    this.retryTimer.unref();
  }

  private report(): void {
    this.metrics.poolReady.set({ server: this.server }, this.warm.length + this.primed.length);
    this.metrics.children.set({ server: this.server, state: 'warm' }, this.warm.length);
    this.metrics.children.set({ server: this.server, state: 'primed' }, this.primed.length);
  }
}
