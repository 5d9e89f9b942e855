import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import type { ExitReason } from './upstream.ts';

/**
 * What a session talks to: a whole upstream (isolated mode) or a `SharedChannel` of a
 * multiplexed upstream (shared mode). The session logic is written once against this.
 */
export interface Channel {
  onmessage?: (message: JSONRPCMessage) => void;
  onexit?: (reason: ExitReason, detail: string) => void;
  send(message: JSONRPCMessage): Promise<void>;
  setProtocolVersion(version: string): void;
  close(): Promise<void>;
}
