import { gateMessage } from '../../shared/policy/gate.ts';
import { type JSONRPCMessage, validSessionId } from '../../shared/protocol/jsonrpc.ts';
import { reasonOf, refusalResponse } from '../../shared/protocol/refusal.ts';
import { admit, mayUse } from './admit.ts';
import { forward } from './forward.ts';
import { countRefused, finish, recordOf } from './meter.ts';
import type { McpRequest, Passage } from './passage.ts';
import { readIncoming } from './read.ts';

/**
 * One MCP request at the edge, stage by stage: admit (origin, credentials, document) → read
 * (bounded body, revision) → gate (the policy on the parsed message) → forward (signed, to
 * the bridge) → relay (the answer filtered on its way back). Metering reads the one record.
 */
export async function handleMcp(x: McpRequest): Promise<Response> {
  const started = Date.now();
  const url = new URL(x.request.url);
  const admitted = await admit(x, url);
  if (admitted instanceof Response) return admitted;
  const passage: Passage = { ...admitted, record: recordOf(x, admitted.principal), started };
  const { record } = passage;
  if (x.request.method !== 'POST') return gatekeep(x, passage, url);

  const incoming = await readIncoming(x.request, x.settings);
  if (incoming instanceof Response) return incoming;
  const { message, revision } = incoming;
  record.requestBytes = incoming.bytes;
  // Before any policy decision: a request whose headers and body disagree is not looked at further.
  if (revision.era === 'refused') {
    record.method = 'method' in message ? message.method : 'response';
    record.decision = reasonOf(revision.refusal);
    countRefused(x, record, started);
    return refusalResponse(revision.refusal, revision.id);
  }
  const early = connectable(x, passage);
  if (early) return early;

  const gate = gateMessage(passage.doc, passage.principal, message, revision.era);
  record.method = gate.method ?? 'response';
  record.name = 'name' in gate ? (gate.name ?? '') : '';
  if (gate.action === 'drop') return new Response(null, { status: 202 });
  if (gate.action === 'refuse') {
    record.decision = reasonOf(gate.refusal);
    passage.audited = argumentsOf(message);
    finish(x, passage, 'refused', 0);
    return refusalResponse(gate.refusal, gate.id);
  }
  passage.audited = argumentsOf(gate.message);
  passage.revision = revision;
  const body = new TextEncoder().encode(JSON.stringify(gate.message));
  return forward(x, passage, url, body, gate);
}

/** A GET (standing stream) or DELETE (end of session): no body, so nothing for the gate to read. */
function gatekeep(x: McpRequest, passage: Passage, url: URL): Promise<Response> | Response {
  return connectable(x, passage) ?? forward(x, passage, url, undefined, undefined);
}

/** Whether this caller may use the server, on a session id worth sending on; a refusal if not. */
function connectable(x: McpRequest, passage: Passage): Response | undefined {
  if (!mayUse(passage)) return refusalResponse({ kind: 'forbidden', server: x.server });
  const sessionId = x.request.headers.get('mcp-session-id');
  if (sessionId !== null && !validSessionId(sessionId))
    return refusalResponse({ kind: 'invalid_session_id' });
  return undefined;
}

function argumentsOf(message: JSONRPCMessage): unknown {
  return 'params' in message ? (message.params as { arguments?: unknown } | undefined)?.arguments : undefined;
}
