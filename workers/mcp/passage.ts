import type { ServerDocument } from '../../shared/policy/document.ts';
import type { Era, Gate } from '../../shared/policy/gate.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import type { Revision } from '../../shared/protocol/revision.ts';
import type { MessageRecord } from '../../shared/storage/analytics.ts';
import type { Env, Settings } from '../env.ts';
import type { View } from './view.ts';

/** What the Worker's router hands the MCP pipeline. */
export interface McpRequest {
  request: Request;
  env: Env;
  settings: Settings;
  ctx: ExecutionContext;
  server: string;
}

/**
 * One request on its way through the stages (admit → read → gate → forward → relay): who
 * sent it, under which document, and the one record that metering writes when it ends.
 */
export interface Passage {
  doc: ServerDocument;
  readonly principal: Principal;
  readonly record: MessageRecord;
  readonly started: number;
  /** The call's arguments, for the audit line (as the document's audit setting says). */
  audited?: unknown;
  revision?: Exclude<Revision, { era: 'refused' }>;
  /** How the answer is read on its way back. */
  view: View;
}

/**
 * What is behind the URL, as admitted for this caller: one server (`admit.ts`), or a portal of
 * the servers they may reach (`portal.ts`). The stages are the same for both.
 */
export interface Scope {
  readonly principal: Principal;
  /** The document whose settings (audit) apply, until the gate names a member's. */
  readonly doc: ServerDocument;
  /** Whether this caller may use it at all; asked once the body is read. */
  mayUse(): boolean;
  /** The policy on one parsed message; for a portal, the member it is for, and that member's document. */
  gate(message: JSONRPCMessage, era: Era): Gate & { member?: { name: string; doc: ServerDocument } };
  /** Where the request goes; undefined when the environment names no bridge. */
  target(url: URL): URL | undefined;
  view(x: McpRequest, passage: Passage): View;
}

/** A message the gate lets through, as it will be forwarded (a renamed tool under its real name). */
export type Forwarded = Extract<Gate, { action: 'forward' }>;
