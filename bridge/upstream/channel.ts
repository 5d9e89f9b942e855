import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import type { ExitReason } from './upstream.ts';

/**
 * What a session talks to: a whole upstream (isolated mode) or a `SharedChannel` of a
 * multiplexed upstream (shared mode). The session logic is written once against this.
 */
export interface Channel {
  /** `text`, where the channel has it: the one line of JSON the message came in, unchanged. */
  onmessage?: (message: JSONRPCMessage, text?: string) => void;
  onexit?: (reason: ExitReason, detail: string) => void;
  /** `text`: the one line of JSON `message` came in; a channel that changes nothing may write it. */
  send(message: JSONRPCMessage, text?: string): Promise<void>;
  setProtocolVersion(version: string): void;
  close(): Promise<void>;
}
