import type { Spliced } from '../../shared/protocol/json-text.ts';
import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';

/**
 * How the policy reads an answer on its way back, whatever is behind the URL: one server's
 * document (`server.ts`), or the documents of a portal's members (`portal.ts`).
 */
export interface View {
  /** Whether a server's message may reach this caller (a resource update they may not read: no). */
  mayDeliver(message: JSONRPCMessage): boolean;
  /** A list or `server/discover` result as this caller may see it; undefined: passed as it is. */
  filtered(method: string, result: Record<string, unknown>): Record<string, unknown> | undefined;
  /**
   * A list answer's text as this caller may see it, filtered without parsing it all; undefined:
   * not read that way (then `filtered` is asked of the parsed message). Optional: a view
   * without it always parses.
   */
  filteredText?(method: string, text: string): Spliced | undefined;
  /** For standing streams: true once what decides has changed (the view then follows it). */
  changed(): Promise<boolean>;
}
