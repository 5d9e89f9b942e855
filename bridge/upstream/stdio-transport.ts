import { type ChildProcess, spawn } from 'node:child_process';
import { PassThrough, type Writable } from 'node:stream';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { type JSONRPCMessage, validMessage } from '../../shared/protocol/jsonrpc.ts';
import { LineReader, NotAMessage } from './lines.ts';

export interface StdioParams {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string | undefined;
  maxLineBytes: number;
}

/**
 * When a stream's buffer has gone out, or that it never will: a stream that closes or fails
 * first emits no 'drain', and what waited on it is refused rather than left waiting.
 * `settled` runs at once, before any write the event's other listeners make.
 */
function drainOf(stdin: Writable, settled: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      stdin.off('drain', drained).off('close', closed).off('error', settle);
      settled();
      if (error) reject(error);
      else resolve();
    };
    const drained = () => settle();
    const closed = () => settle(new Error('Not connected: the MCP server closed its input'));
    stdin.on('drain', drained).on('close', closed).on('error', settle);
  });
}

/** How long a closed stdin is given to end the child, then SIGTERM is, before SIGKILL: the SDK's. */
const graceMs = 2000;

/**
 * A stdio MCP server as an SDK `Transport`, in place of the SDK's `StdioClientTransport`, for
 * what a relay needs and it does not give: each message comes with the line it was read from,
 * and a message can be written as the text it came in, so that a message passing through
 * unchanged is neither serialised again nor altered (a large integer keeps its digits). Lines
 * are read in one pass (lines.ts). The spawn options, the inherited environment and the close
 * sequence are the SDK's; the spawn is Node's own, not `cross-spawn` (the bridge runs on Linux).
 */
export class StdioTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  /** Set instead of `onmessage` by who can use the text: a message, and the line it was read from. */
  online?: (message: JSONRPCMessage, line: string) => void;
  onerror?: (error: Error) => void;
  onclose?: () => void;
  /** Given at once, before start, so that nothing the child writes early is lost. */
  readonly stderr = new PassThrough();
  private child: ChildProcess | undefined;
  private readonly reader: LineReader;
  private readonly params: StdioParams;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private closing = false;
  private corked = false;
  /** Writes past stdin's buffer wait for this, all of them: one listener, however many. */
  private drained: Promise<void> | undefined;

  constructor(params: StdioParams) {
    this.params = params;
    this.reader = new LineReader(params.maxLineBytes);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** How the child ended: its exit code or signal, once it has. */
  get ended(): string | undefined {
    if (this.exit === undefined) return undefined;
    const { code, signal } = this.exit;
    return signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
  }

  start(): Promise<void> {
    if (this.child) throw new Error('already started');
    const { command, args, env, cwd } = this.params;
    const child = spawn(command, args, {
      env: { ...getDefaultEnvironment(), ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd,
    });
    this.child = child;
    child.once('exit', (code, signal) => {
      this.exit = { code, signal };
    });
    child.once('close', () => {
      this.child = undefined;
      this.onclose?.();
    });
    child.stdin?.on('error', (error) => this.onerror?.(error));
    child.stdout?.on('error', (error) => this.onerror?.(error));
    child.stdout?.on('data', (chunk: Buffer) => this.read(chunk));
    child.stderr?.pipe(this.stderr);
    return new Promise((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => {
        reject(error);
        this.onerror?.(error);
      });
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    return this.write(`${JSON.stringify(message)}\n`);
  }

  /** `message` as the text it came in: one line of JSON, which the caller has checked it is. */
  sendText(text: string): Promise<void> {
    return this.write(`${text}\n`);
  }

  async close(): Promise<void> {
    const child = this.child;
    this.reader.clear();
    if (child === undefined || this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const ended = () => Promise.race([closed, new Promise((r) => setTimeout(r, graceMs).unref())]);
    child.stdin?.end();
    await ended();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await ended();
    }
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  private write(line: string): Promise<void> {
    const stdin = this.closing ? undefined : this.child?.stdin;
    if (!stdin || stdin.destroyed) return Promise.reject(new Error('Not connected'));
    this.batch(stdin);
    if (stdin.write(line)) return Promise.resolve();
    this.drained ??= drainOf(stdin, () => {
      this.drained = undefined;
    });
    return this.drained;
  }

  /**
   * The lines written while Node handles one round of I/O go to the child in one write: one
   * system call and one wake-up of the child for what many sessions sent at once (shared mode),
   * where each line was a write of its own. Written once that round's callbacks have run.
   */
  private batch(stdin: NonNullable<ChildProcess['stdin']>): void {
    if (this.corked) return;
    this.corked = true;
    stdin.cork();
    setImmediate(() => {
      this.corked = false;
      stdin.uncork();
    });
  }

  private read(chunk: Buffer): void {
    try {
      this.reader.push(chunk, (line) => this.deliver(line));
    } catch (error) {
      // A line past the bound: what follows of it is not a message either, so the child goes.
      this.child?.stdout?.removeAllListeners('data');
      this.onerror?.(error as Error);
      this.close().catch(() => undefined);
    }
  }

  private deliver(line: string): void {
    let message: JSONRPCMessage | undefined;
    try {
      message = validMessage(JSON.parse(line));
    } catch (error) {
      this.onerror?.(error as Error);
      return;
    }
    if (message === undefined) {
      this.onerror?.(new NotAMessage());
      return;
    }
    if (this.online) this.online(message, line);
    else this.onmessage?.(message);
  }
}
