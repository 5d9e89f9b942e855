import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import type { Credential } from '../identity/credential.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { LineTooLong, NotAMessage } from './lines.ts';
import { Liveness } from './liveness.ts';
import { StdioTransport } from './stdio-transport.ts';

export type ExitReason = 'crash' | 'closed';

/**
 * One connection to an MCP server, whatever carries it: a spawned stdio child (stdio-transport.ts),
 * or a client session with a Streamable HTTP or SSE server (the SDK's client transports).
 */
export class Upstream {
  /** A message from the server; from a child, with the line it came in (`text`). */
  onmessage?: (message: JSONRPCMessage, text?: string) => void;
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
  /** The person's credential it was opened with (identity: token-exchange); its files go with it. */
  readonly credential: Credential | undefined;

  constructor(
    transport: Transport,
    server: string,
    deps: { log: Logger; metrics: Metrics; credential?: Credential },
    child?: { pid: number | undefined; ending: () => string | undefined; livenessMs: number },
  ) {
    this.transport = transport;
    this.server = server;
    this.metrics = deps.metrics;
    this.log = deps.log;
    this.pid = child?.pid;
    this.credential = deps.credential;
    this.ending = child?.ending;
    this.isChild = transport instanceof StdioTransport;
    if (child !== undefined) {
      const ping = (id: string) =>
        void transport.send({ jsonrpc: '2.0', id, method: 'ping' }).catch(() => undefined);
      this.liveness = new Liveness(child.livenessMs, ping, () => this.stoppedAnswering(child.livenessMs));
    }
    const heard = (message: JSONRPCMessage, text?: string) => {
      if (this.liveness?.heard(message)) return;
      this.onmessage?.(message, text);
    };
    if (transport instanceof StdioTransport) transport.online = heard;
    else transport.onmessage = (message) => heard(message);
    transport.onerror = (error) => this.failed(error);
    transport.onclose = () => this.exited();
  }

  get open(): boolean {
    return this.state === 'open';
  }

  /** `text`: the one line of JSON `message` came in, written as it is to a child. */
  send(message: JSONRPCMessage, text?: string): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error('upstream closed'));
    this.liveness?.sent(message);
    if (text !== undefined && this.transport instanceof StdioTransport) return this.transport.sendText(text);
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
    if (error instanceof LineTooLong) {
      this.overflowed = true;
      this.metrics.droppedLines.inc({ server: this.server, reason: 'too_long' });
      this.exitDetail = 'the MCP server wrote a message larger than the line limit';
    } else if (error instanceof SyntaxError || error instanceof NotAMessage || error.name === 'ZodError') {
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
    this.credential?.close();
    const ending = reason === 'crash' && !this.overflowed && !this.wedged ? this.ending?.() : undefined;
    if (ending !== undefined) this.exitDetail = `the MCP server ${ending}`;
    if (this.isChild)
      this.metrics.childExits.inc({ server: this.server, reason: this.wedged ? 'wedged' : reason });
    this.onexit?.(reason, this.exitDetail);
  }
}

/** A new upstream: anyone's (a spare), or one person's, with their credential. */
export type UpstreamFactory = (credential?: Credential) => Promise<Upstream>;
