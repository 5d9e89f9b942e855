import type { ServerDocument } from '../../shared/policy/document.ts';
import type { Era, Gate } from '../../shared/policy/gate.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import type { JSONRPCMessage, RequestId } from '../../shared/protocol/jsonrpc.ts';
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
  /** Who approved the call, and when, when its document asks for approval. */
  approval?: { by: string; at: string };
  revision?: Exclude<Revision, { era: 'refused' }>;
  /** How the answer is read on its way back. */
  view: View;
  /** The servers behind this request that act as the caller (identity: token-exchange, per-user-oauth). */
  personal?: readonly ServerDocument[];
  /** What the filtered result becomes before it reaches the client (tool search's find_tools). */
  reshape?: (result: Record<string, unknown>) => Record<string, unknown>;
}

/**
 * What is behind the URL, as admitted for this caller: one server (`admit.ts`), or a portal of
 * the servers they may reach (`portal.ts`). The stages are the same for both.
 */
export interface Scope {
  readonly principal: Principal;
  /** The portal it is, for the record: `/mcp`, or a named portal's name. */
  readonly portal?: string;
  /** The document whose settings (audit) apply, until the gate names a member's. */
  readonly doc: ServerDocument;
  /** Whether this caller may use it at all; asked once the body is read. */
  mayUse(): boolean;
  /** The policy on one parsed message; for a portal, the member it is for, and that member's document. */
  gate(message: JSONRPCMessage, era: Era): Gated;
  /** Where the request goes; undefined when the environment names no bridge. */
  target(url: URL): URL | undefined;
  /** The servers this request may reach that act as the caller: each gets the caller's assertion or token. */
  personal(member: string | undefined): readonly ServerDocument[];
  view(x: McpRequest, passage: Passage): View;
}

/**
 * The gate's decision as the stages read it: forward, drop or refuse (`Gate`), with the member a
 * portal's message is for; or an answer the edge gives itself (a tool-search portal's list).
 * `reshape` turns the answer's filtered result into what the client asked for.
 */
export type Gated =
  | (Gate & {
      member?: { name: string; doc: ServerDocument };
      /** The name the client called, when the gate was given another message (tool search's call_tool). */
      asked?: string;
      reshape?: (result: Record<string, unknown>) => Record<string, unknown>;
    })
  | { action: 'answer'; id: RequestId; method: string; result: Record<string, unknown>; member?: undefined };

/** A message the gate lets through, as it will be forwarded (a renamed tool under its real name). */
export type Forwarded = Extract<Gate, { action: 'forward' }>;
