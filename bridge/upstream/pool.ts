import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { Backoff } from './backoff.ts';
import { warmUp } from './handshake.ts';
import type { Upstream, UpstreamFactory } from './upstream.ts';

/** What /readyz, the npm start banner and a refused client are told about one server. */
export type ServerStatus = { state: 'ready' | 'starting' } | { state: 'failing'; reason: string };

const refillDelayMs = 100;

/**
 * Children started ahead of demand, so that opening a session does not wait for a
 * process to boot. A child that dies while warm is replaced after a backoff that
 * grows with consecutive failures, so that a crash-looping command never spins.
 */
export class WarmPool {
  private readonly warm: Upstream[] = [];
  private starting = 0;
  private readonly backoff = new Backoff();
  private everReady = false;
  private lastFailure: string | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private state: 'filling' | 'backoff' | 'closed' = 'filling';
  private readonly size: number;
  private readonly spawn: UpstreamFactory;
  private readonly server: string;
  private readonly metrics: Metrics;
  private readonly log: Logger;

  constructor(size: number, spawn: UpstreamFactory, server: string, deps: { metrics: Metrics; log: Logger }) {
    this.size = size;
    this.spawn = spawn;
    this.server = server;
    this.metrics = deps.metrics;
    this.log = deps.log;
  }

  get ready(): number {
    return this.warm.length;
  }

  get status(): ServerStatus {
    if (this.lastFailure !== undefined) return { state: 'failing', reason: this.lastFailure };
    return { state: this.everReady ? 'ready' : 'starting' };
  }

  /** True while children keep dying before they are used (the command is broken). */
  get crashLooping(): boolean {
    return this.backoff.crashLooping;
  }

  fill(): void {
    while (this.state === 'filling' && this.warm.length + this.starting < this.size) {
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

  /** A started child for a new session: a warm one if there is one, else one started now. */
  async take(): Promise<Upstream> {
    const upstream = this.warm.shift();
    this.report();
    // spawn() blocks the event loop for a few ms (fork + exec): refill after this session is set up.
    setTimeout(() => this.fill(), refillDelayMs).unref();
    if (upstream) {
      upstream.onexit = undefined;
      this.backoff.succeeded();
      return upstream;
    }
    return this.spawn();
  }

  async close(): Promise<void> {
    this.state = 'closed';
    clearTimeout(this.retryTimer);
    const children = this.warm.splice(0);
    for (const child of children) child.onexit = undefined;
    this.report();
    await Promise.all(children.map((child) => child.close()));
  }

  private started(upstream: Upstream): void {
    this.starting -= 1;
    if (this.state === 'closed') {
      void upstream.close();
      return;
    }
    upstream.onexit = (_reason, detail) => {
      const index = this.warm.indexOf(upstream);
      if (index !== -1) this.warm.splice(index, 1);
      this.report();
      this.failed('warm child exited before use', `before it was used, ${detail}`);
    };
    this.everReady = true;
    this.lastFailure = undefined;
    this.warm.push(upstream);
    this.report();
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
    this.metrics.poolReady.set({ server: this.server }, this.warm.length);
    this.metrics.children.set({ server: this.server, state: 'warm' }, this.warm.length);
  }
}
