import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import { negotiated } from '../sessions/versions.ts';
import type { Channel } from './channel.ts';
import type { ExitReason } from './upstream.ts';

/** What a shared channel hands its messages to: the multiplexer, which owns the upstream. */
export interface Hub {
  fromChannel(channel: SharedChannel, message: JSONRPCMessage, text?: string): Promise<void>;
  detach(channel: SharedChannel): void;
}

/** One session's view of a multiplexed upstream. */
export class SharedChannel implements Channel {
  onmessage?: (message: JSONRPCMessage, text?: string) => void;
  onexit?: (reason: ExitReason, detail: string) => void;
  private readonly mux: Hub;
  private requested: unknown;
  private capabilities: Record<string, unknown> = {};

  constructor(mux: Hub) {
    this.mux = mux;
  }

  /** What this session's client asked for in its initialize. */
  greeted(params: Record<string, unknown>): void {
    this.requested = params.protocolVersion;
    const declared = params.capabilities;
    this.capabilities = typeof declared === 'object' && declared !== null ? { ...declared } : {};
  }

  declared(capability: string): boolean {
    return this.capabilities[capability] !== undefined;
  }

  send(message: JSONRPCMessage, text?: string): Promise<void> {
    return this.mux.fromChannel(this, message, text);
  }

  /** The answer to this session's initialize: the upstream's result, at the session's revision. */
  welcome(message: JSONRPCMessage): void {
    const result = (message as { result?: { protocolVersion?: unknown } }).result;
    if (typeof result?.protocolVersion !== 'string') {
      this.deliver(message);
      return;
    }
    const protocolVersion = negotiated(this.requested, result.protocolVersion);
    this.onmessage?.({ ...message, result: { ...result, protocolVersion } } as JSONRPCMessage);
  }

  /** `text`: the line `message` came in, with this session's id where the multiplexer renumbered it. */
  deliver(message: JSONRPCMessage, text?: string): void {
    this.onmessage?.(message, text);
  }

  setProtocolVersion(): void {}

  async close(): Promise<void> {
    this.mux.detach(this);
  }
}
