import { existsSync } from 'node:fs';
import { redact } from '../../shared/security/redact.ts';
import type { ServerConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { MemoryBudget } from './memory.ts';
import { defaultStderrLimits, forwardStderr, StderrTail } from './stderr.ts';
import { StdioTransport } from './stdio-transport.ts';
import { Upstream, type UpstreamFactory } from './upstream.ts';

type Stdio = Extract<ServerConfig['transport'], { type: 'stdio' }>;

/** Spawns the server's command for each upstream: its stderr logged, its memory tracked. */
export function stdioFactory(
  server: ServerConfig,
  t: Stdio,
  deps: { log: Logger; metrics: Metrics; memory?: MemoryBudget },
): UpstreamFactory {
  const { log, metrics, memory } = deps;
  return async (credential) => {
    const [command, args] = commandLine(t.command, t.args);
    const transport = new StdioTransport({
      command,
      args,
      env: { ...childEnv(t.inheritEnv, t.env), ...credential?.env() },
      cwd: t.cwd,
      maxLineBytes: server.limits.maxLineBytes,
    });
    const tail = new StderrTail();
    const dropped = () => metrics.droppedLines.inc({ server: server.name, reason: 'stderr_rate' });
    forwardStderr(transport.stderr, log.child({ server: server.name }), dropped, defaultStderrLimits, tail);
    metrics.childSpawns.inc({ server: server.name });
    try {
      await transport.start();
    } catch (error) {
      metrics.childExits.inc({ server: server.name, reason: 'spawn_error' });
      credential?.close();
      throw error;
    }
    memory?.track(transport.pid);
    return new Upstream(
      transport,
      server.name,
      { ...deps, credential },
      {
        pid: transport.pid,
        ending: endingOf(transport, tail),
        livenessMs: server.limits.livenessSeconds * 1000,
      },
    );
  };
}

const linux = process.platform === 'linux';
/** Looked up once: a spawn should not pay file-system checks whose answer never changes. */
const setpriv = linux && existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : undefined;
const setsid = linux && existsSync('/usr/bin/setsid') ? ['/usr/bin/setsid'] : [];
const batch = linux && existsSync('/usr/bin/chrt') ? ['/usr/bin/chrt', '--batch', '0'] : [];

/**
 * On Linux the child is started through util-linux `setpriv --pdeathsig KILL`, which
 * execs the command with a parent-death signal: if the bridge dies, even by SIGKILL,
 * the kernel kills its children. No orphans, and no extra process per child. `setsid`
 * (an exec too, since the child is no group leader) puts it in a session of its own, so
 * that a Ctrl-C meant for the bridge does not kill the children under a graceful drain.
 * `chrt --batch 0` (an exec too) runs it under SCHED_BATCH: same priority, but a child woken
 * by its stdin does not preempt the bridge that wrote to it, which finishes what it is doing
 * (answers, other children's requests) first. With a child per session on few cores, that
 * carried 6 of 8 and 5 of 6 interleaved throughput rounds at 32 sessions (docs/performance.md).
 */
export function commandLine(
  command: string,
  args: readonly string[],
  onParentDeath: 'KILL' | 'TERM' = 'KILL',
): [string, string[]] {
  if (setpriv === undefined) return [command, [...args]];
  return [setpriv, ['--pdeathsig', onParentDeath, '--', ...setsid, ...batch, command, ...args]];
}

/** The SDK adds PATH, HOME, USER and the like; these are what the config passes on, or sets. */
export function childEnv(inherit: readonly string[], set: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of inherit) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...set };
}

/** "exited with code 1; its last stderr: …": what a person needs to fix a child that died. */
function endingOf(transport: StdioTransport, tail: StderrTail): () => string | undefined {
  return () => {
    const exit = transport.ended;
    if (exit === undefined) return undefined;
    return tail.text === '' ? exit : `${exit}; its last stderr: ${redact(tail.text)}`;
  };
}
