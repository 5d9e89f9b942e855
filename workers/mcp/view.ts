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
  /** For standing streams: true once what decides has changed (the view then follows it). */
  changed(): Promise<boolean>;
}
