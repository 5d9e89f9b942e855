import type { ServerDocument } from '../../shared/policy/document.ts';
import type { Gate } from '../../shared/policy/gate.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import type { Revision } from '../../shared/protocol/revision.ts';
import type { MessageRecord } from '../../shared/storage/analytics.ts';
import type { Env, Settings } from '../env.ts';

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
}

/** A message the gate lets through, as it will be forwarded (a renamed tool under its real name). */
export type Forwarded = Extract<Gate, { action: 'forward' }>;
