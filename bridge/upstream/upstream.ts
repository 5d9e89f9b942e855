import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import { redact } from '../../shared/security/redact.ts';
import type { ServerConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { Liveness } from './liveness.ts';
import type { MemoryBudget } from './memory.ts';
import { defaultStderrLimits, forwardStderr, StderrTail } from './stderr.ts';

export type ExitReason = 'crash' | 'closed';

/**
 * One connection to an MCP server, whatever carries it: a spawned stdio child, or a
 * client session with a Streamable HTTP or SSE server. Built on the SDK's client transports.
 */
export class Upstream {
  onmessage?: (message: JSONRPCMessage) => void;
  onexit?: (reason: ExitReason, detail: string) => void;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private exitDetail = 'the MCP server closed the connection';
  private overflowed = false;
  private readonly transport: Transport;
  private readonly server: string;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly isChild: boolean;
  /** How a child ended (exit code or signal, last stderr lines), redacted; once it has. */
  private readonly ending: (() => string | undefined) | undefined;
  private readonly liveness: Liveness | undefined;
  private wedged = false;
  readonly pid: number | undefined;

  constructor(
    transport: Transport,
    server: string,
    deps: { log: Logger; metrics: Metrics },
    child?: { pid: number | undefined; ending: () => string | undefined; livenessMs: number },
  ) {
    this.transport = transport;
    this.server = server;
    this.metrics = deps.metrics;
    this.log = deps.log;
    this.pid = child?.pid;
    this.ending = child?.ending;
    this.isChild = transport instanceof StdioClientTransport;
    if (child !== undefined) {
      const ping = (id: string) =>
        void transport.send({ jsonrpc: '2.0', id, method: 'ping' }).catch(() => undefined);
      this.liveness = new Liveness(child.livenessMs, ping, () => this.stoppedAnswering(child.livenessMs));
    }
    transport.onmessage = (message) => {
      if (this.liveness?.heard(message)) return;
      this.onmessage?.(message);
    };
    transport.onerror = (error) => this.failed(error);
    transport.onclose = () => this.exited();
  }

  get open(): boolean {
    return this.state === 'open';
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error('upstream closed'));
    this.liveness?.sent(message);
    return this.transport.send(message);
  }

  setProtocolVersion(version: string): void {
    this.transport.setProtocolVersion?.(version);
  }

  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    if (this.transport instanceof StreamableHTTPClientTransport) {
      await this.transport.terminateSession().catch(() => undefined);
    }
    await this.transport.close();
    this.exited();
  }

  private failed(error: Error): void {
    const text = error.message;
    if (text.includes('ReadBuffer exceeded')) {
      if (this.overflowed) return; // the rest of that line, arriving while the SDK closes the child
      this.overflowed = true;
      this.metrics.droppedLines.inc({ server: this.server, reason: 'too_long' });
      this.exitDetail = 'the MCP server wrote a message larger than the line limit';
    } else if (error instanceof SyntaxError || error.name === 'ZodError') {
      this.metrics.droppedLines.inc({ server: this.server, reason: 'not_json' });
    } else {
      this.log.log('warn', 'upstream error', { server: this.server, error: text.slice(0, 300) });
    }
  }

  /** Wedged: its sessions fail at once with why; the kill is ours, the fault the child's. */
  private stoppedAnswering(quietMs: number): void {
    if (this.state !== 'open') return;
    this.wedged = true;
    this.exitDetail = `the MCP server stopped answering (no reply to a ping within ${quietMs / 1000} s while requests waited)`;
    this.log.log('warn', 'child stopped answering; ending it', { server: this.server, pid: this.pid });
    void this.transport.close();
  }

  private exited(): void {
    if (this.state === 'closed') return;
    const reason: ExitReason = this.state === 'closing' ? 'closed' : 'crash';
    this.state = 'closed';
    this.liveness?.stop();
    const ending = reason === 'crash' && !this.overflowed && !this.wedged ? this.ending?.() : undefined;
    if (ending !== undefined) this.exitDetail = `the MCP server ${ending}`;
    if (this.isChild)
      this.metrics.childExits.inc({ server: this.server, reason: this.wedged ? 'wedged' : reason });
    this.onexit?.(reason, this.exitDetail);
  }
}

const linux = process.platform === 'linux';
/** Looked up once: a spawn should not pay file-system checks whose answer never changes. */
const setpriv = linux && existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : undefined;
const setsid = linux && existsSync('/usr/bin/setsid') ? ['/usr/bin/setsid'] : [];

/**
 * On Linux the child is started through util-linux `setpriv --pdeathsig KILL`, which
 * execs the command with a parent-death signal: if the bridge dies, even by SIGKILL,
 * the kernel kills its children. No orphans, and no extra process per child. `setsid`
 * (an exec too, since the child is no group leader) puts it in a session of its own, so
 * that a Ctrl-C meant for the bridge does not kill the children under a graceful drain.
 */
export function commandLine(
  command: string,
  args: readonly string[],
  onParentDeath: 'KILL' | 'TERM' = 'KILL',
): [string, string[]] {
  if (setpriv === undefined) return [command, [...args]];
  return [setpriv, ['--pdeathsig', onParentDeath, '--', ...setsid, command, ...args]];
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

/**
 * "exited with code 1; its last stderr: …": what a person needs to fix a child that died. The
 * SDK keeps its ChildProcess private, and the exit code or signal is only on that object.
 */
function endingOf(transport: StdioClientTransport, tail: StderrTail): () => string | undefined {
  const child = (transport as unknown as { _process?: ChildProcess })._process;
  let exit: string | undefined;
  child?.once('exit', (code, signal) => {
    exit = signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
  });
  return () => {
    if (exit === undefined) return undefined;
    return tail.text === '' ? exit : `${exit}; its last stderr: ${redact(tail.text)}`;
  };
}

export type UpstreamFactory = () => Promise<Upstream>;

export function upstreamFactory(
  server: ServerConfig,
  log: Logger,
  metrics: Metrics,
  memory?: MemoryBudget,
): UpstreamFactory {
  const t = server.transport;
  const deps = { log, metrics };
  switch (t.type) {
    case 'stdio':
      return async () => {
        const [command, args] = commandLine(t.command, t.args);
        const transport = new StdioClientTransport({
          command,
          args,
          env: childEnv(t.inheritEnv, t.env),
          cwd: t.cwd,
          stderr: 'pipe',
          maxBufferSize: server.limits.maxLineBytes,
        });
        const stderr = transport.stderr as Readable | null;
        const tail = new StderrTail();
        if (stderr) {
          const dropped = () => metrics.droppedLines.inc({ server: server.name, reason: 'stderr_rate' });
          forwardStderr(stderr, log.child({ server: server.name }), dropped, defaultStderrLimits, tail);
        }
        metrics.childSpawns.inc({ server: server.name });
        try {
          await transport.start();
        } catch (error) {
          metrics.childExits.inc({ server: server.name, reason: 'spawn_error' });
          throw error;
        }
        memory?.track(transport.pid ?? undefined);
        const ending = endingOf(transport, tail);
        const livenessMs = server.limits.livenessSeconds * 1000;
        return new Upstream(transport, server.name, deps, {
          pid: transport.pid ?? undefined,
          ending,
          livenessMs,
        });
      };
    case 'streamable-http':
      return async () => {
        const transport = new StreamableHTTPClientTransport(new URL(t.url), {
          requestInit: { headers: t.headers },
        });
        await transport.start();
        return new Upstream(transport, server.name, deps);
      };
    case 'sse':
      return async () => {
        const transport = new SSEClientTransport(new URL(t.url), { requestInit: { headers: t.headers } });
        await transport.start();
        return new Upstream(transport, server.name, deps);
      };
  }
}
