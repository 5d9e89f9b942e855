import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import type { Gauge } from 'prom-client';
import type { Logger } from '../log.ts';

const mib = 2 ** 20;
const sampleMs = 2000;
/** A child this young is still loading its code: it counts at the estimate, and not in the mean. */
const settleMs = 5000;

export interface MemorySettings {
  /** The most the bridge and its children may use (the config's, else the cgroup's); undefined: no bound. */
  readonly limitBytes: number | undefined;
  /** A new child is admitted while measured use plus one child stays below this share of the limit. */
  readonly admitBelow: number;
  /** What one stdio child is taken to use until the bridge has measured its own. */
  readonly childEstimateBytes: number;
}

export type Admission = { ok: true } | { ok: false; usedBytes: number; limitBytes: number };

/** The container's memory limit: cgroup v2, else v1; none when unlimited or not in a container. */
export function cgroupLimit(
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): number | undefined {
  for (const path of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    let text: string;
    try {
      text = read(path).trim();
    } catch {
      continue;
    }
    const bytes = Number(text);
    // v2 says "max"; v1 says a number near 2^63 rounded to a page.
    return Number.isSafeInteger(bytes) && bytes > 0 && bytes < 2 ** 50 ? bytes : undefined;
  }
  return undefined;
}

/** What one process and its descendants occupy, by proportional set size (shared pages split). */
export class ProcessTree {
  private readonly proc: string;

  constructor(proc = '/proc') {
    this.proc = proc;
  }

  /** Every process's children, from each one's parent in `/proc/<pid>/stat`: the kernel may not list children. */
  async children(): Promise<Map<number, number[]>> {
    const entries = await readdir(this.proc).catch(() => [] as string[]);
    const children = new Map<number, number[]>();
    await Promise.all(
      entries
        .filter((name) => /^\d+$/.test(name))
        .map(async (name) => {
          const stat = await readFile(`${this.proc}/${name}/stat`, 'utf8').catch(() => '');
          // The command name may hold spaces and parentheses: the fields after the last ')' do not.
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
          if (Number.isInteger(ppid)) children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
        }),
    );
    return children;
  }

  /** The process's own memory: PSS where the kernel gives it, else resident pages. */
  async bytesOf(pid: number): Promise<number | undefined> {
    const rollup = await readFile(`${this.proc}/${pid}/smaps_rollup`, 'utf8').catch(() => undefined);
    const pss = rollup === undefined ? undefined : /^Pss:\s+(\d+) kB/m.exec(rollup)?.[1];
    if (pss !== undefined) return Number(pss) * 1024;
    const statm = await readFile(`${this.proc}/${pid}/statm`, 'utf8').catch(() => undefined);
    const pages = statm === undefined ? Number.NaN : Number(statm.split(' ')[1]);
    return Number.isFinite(pages) ? pages * 4096 : undefined;
  }

  /** The process and all its descendants (`npx` starts the server as a grandchild). */
  async subtreeBytes(root: number, children: Map<number, number[]>): Promise<number | undefined> {
    const own = await this.bytesOf(root);
    if (own === undefined) return undefined;
    const below = await Promise.all(
      (children.get(root) ?? []).map((pid) => this.subtreeBytes(pid, children)),
    );
    return below.reduce<number>((sum, bytes) => sum + (bytes ?? 0), own);
  }
}

/**
 * Admission by memory: the bridge measures itself and the stdio children it started (every
 * two seconds, while it has a limit), and refuses a new child before the pod's limit, not
 * after the kernel's OOM killer has ended every session on it.
 */
export class MemoryBudget {
  /** Each child the bridge started, by pid, and when. */
  private readonly pids = new Map<number, number>();
  private used: number | undefined;
  private perChild: number;
  private spawnedSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private readonly settings: MemorySettings;
  private readonly gauge: Gauge<'measure'> | undefined;
  private readonly log: Logger;
  private readonly tree: ProcessTree;
  private readonly now: () => number;

  constructor(
    settings: MemorySettings,
    gauge: Gauge<'measure'> | undefined,
    log: Logger,
    probes: { tree?: ProcessTree; now?: () => number } = {},
  ) {
    this.settings = settings;
    this.gauge = gauge;
    this.log = log;
    this.tree = probes.tree ?? new ProcessTree();
    this.now = probes.now ?? Date.now;
    this.perChild = settings.childEstimateBytes;
    if (settings.limitBytes !== undefined) gauge?.set({ measure: 'limit' }, settings.limitBytes);
  }

  /** A stdio child was started: it counts, at the estimate, until the next measurement. */
  track(pid: number | undefined): void {
    if (pid === undefined) return;
    this.pids.set(pid, this.now());
    this.spawnedSince += 1;
  }

  /** Whether one more child fits below the limit. */
  admits(): Admission {
    const limit = this.settings.limitBytes;
    if (limit === undefined) return { ok: true };
    const used = (this.used ?? process.memoryUsage.rss()) + this.spawnedSince * this.perChild;
    if (used + this.perChild <= limit * this.settings.admitBelow) return { ok: true };
    return { ok: false, usedBytes: used, limitBytes: limit };
  }

  start(): void {
    if (this.settings.limitBytes === undefined) {
      this.log.log(
        'info',
        'no memory limit found (cgroup or memory.limitBytes): sessions are bounded by maxSessions only',
      );
      return;
    }
    void this.measure();
    this.timer = setInterval(() => void this.measure(), sampleMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One measurement of the bridge and its children; overlapping calls share it. */
  measure(): Promise<void> {
    this.sampling ??= this.sample().finally(() => {
      this.sampling = undefined;
    });
    return this.sampling;
  }

  private async sample(): Promise<void> {
    const now = this.now();
    const spawned = this.spawnedSince;
    // Reading every process's stat is for finding descendants: with no child, there is none.
    const children = this.pids.size === 0 ? new Map<number, number[]>() : await this.tree.children();
    const own = (await this.tree.bytesOf(process.pid)) ?? process.memoryUsage.rss();
    let childBytes = 0;
    let settled = 0;
    let settledBytes = 0;
    for (const [pid, started] of [...this.pids]) {
      const bytes = await this.tree.subtreeBytes(pid, children);
      if (bytes === undefined) this.pids.delete(pid);
      else if (now - started < settleMs) childBytes += Math.max(bytes, this.perChild);
      else {
        childBytes += bytes;
        settled += 1;
        settledBytes += bytes;
      }
    }
    if (settled > 0) this.perChild = Math.max(settledBytes / settled, mib);
    this.used = own + childBytes;
    this.spawnedSince = Math.max(0, this.spawnedSince - spawned);
    this.gauge?.set({ measure: 'used' }, this.used);
    this.gauge?.set({ measure: 'per_child' }, this.perChild);
  }
}
