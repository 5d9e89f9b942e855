import { askedOf } from '../../shared/portal/rewrite.ts';
import { type JSONRPCMessage, type RequestId, validSessionId } from '../../shared/protocol/jsonrpc.ts';
import { reasonOf, refusalResponse } from '../../shared/protocol/refusal.ts';
import { admit } from './admit.ts';
import { approval, rememberCapabilities, takeAnswer } from './approval.ts';
import { askFirst } from './ask.ts';
import { forward } from './forward.ts';
import { heldBack } from './listed.ts';
import { countRefused, finish, recordOf, refused } from './meter.ts';
import type { Forwarded, McpRequest, Passage, Scope } from './passage.ts';
import { overQuota } from './quota.ts';
import { readIncoming } from './read.ts';

/**
 * One MCP request at the edge, stage by stage: admit (origin, credentials, what is behind the
 * URL) → read (bounded body, revision) → gate (the policy on the parsed message; for a call,
 * then its pins, the person's approval and its quotas) → forward (signed, to the bridge) → relay
 * (the answer filtered on its way back). Metering reads the one record. A server's URL and a portal's differ only in how they admit (`admit.ts`, `portal.ts`).
 */
export async function handleMcp(
  x: McpRequest,
  admitted: (x: McpRequest, url: URL) => Promise<Scope | Response> = admit,
): Promise<Response> {
  const started = Date.now();
  const url = new URL(x.request.url);
  const scope = await admitted(x, url);
  if (scope instanceof Response) return scope;
  // The view reads (and follows) the passage's document, so it is made once the passage is.
  const passage = {
    doc: scope.doc,
    principal: scope.principal,
    record: recordOf(x, scope.principal),
    started,
  } as Passage;
  passage.view = scope.view(x, passage);
  const { record } = passage;
  record.portal = scope.portal ?? '';
  if (x.request.method !== 'POST')
    return connectable(x, scope) ?? forward(x, passage, scope.target(url), undefined, undefined);

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
  const early = connectable(x, scope);
  if (early) return early;
  // A client's answer to the gateway's own question (a call awaiting approval) goes no further.
  const answer = await takeAnswer(x, scope.principal, message);
  if (answer !== undefined) return answer;

  const gate = scope.gate(message, revision.era);
  record.method = gate.method ?? 'response';
  record.name = 'name' in gate ? (gate.name ?? '') : '';
  const asked = ('asked' in gate ? gate.asked : undefined) ?? askedOf(message) ?? '';
  record.exposed = asked === record.name ? '' : asked;
  if (gate.member !== undefined) {
    // A portal's request is recorded and audited as its member's.
    record.server = gate.member.name;
    passage.doc = gate.member.doc;
  }
  if (gate.action === 'drop') return new Response(null, { status: 202 });
  if (gate.action === 'answer') return answered(x, passage, gate.id, gate.result);
  passage.reshape = gate.reshape;
  if (gate.action === 'refuse') {
    passage.audited = argumentsOf(message);
    return refused(x, passage, gate.refusal, gate.id);
  }
  passage.audited = argumentsOf(gate.message);
  passage.revision = revision;
  passage.personal = scope.personal(gate.member?.name);
  const send = (forwarded: Forwarded) => callThrough(x, passage, scope.target(url), forwarded);
  if (gate.method !== 'tools/call' || gate.name === undefined) {
    const response = await send(gate);
    rememberCapabilities(x, scope, gate.message, response);
    return response;
  }
  const held = await heldBack(x, passage, gate.name);
  const id = idOf(gate.message);
  if (held !== undefined) return refused(x, passage, held, id);
  const approved = await approval(x, passage, gate.message, gate.name, revision);
  if (approved instanceof Response) return approved;
  switch (approved.kind) {
    case 'refuse':
      return refused(x, passage, approved.refusal, id);
    case 'answer':
      // Recorded as the question it is: the call itself is recorded when it comes back approved.
      record.decision = 'approval_asked';
      return answered(x, passage, id, approved.result);
    case 'ask':
      return askFirst(x, passage, approved, id, (message) => send({ ...gate, message }));
    default:
      passage.reshape = approved.reshape ?? passage.reshape;
      return send({ ...gate, message: approved.message });
  }
}

/** The last stages of a forwarded message: its quota (a tool call), then the bridge. */
async function callThrough(x: McpRequest, passage: Passage, target: URL | undefined, gate: Forwarded) {
  if (gate.method === 'tools/call' && gate.name !== undefined) {
    const over = await overQuota(x, passage, gate.name);
    if (over instanceof Response) return over;
    if (over !== undefined) return refused(x, passage, over, idOf(gate.message));
  }
  const body = new TextEncoder().encode(JSON.stringify(gate.message));
  return forward(x, passage, target, body, gate);
}

function idOf(message: JSONRPCMessage): RequestId | null {
  return 'id' in message ? (message.id ?? null) : null;
}

/** An answer the edge gives itself: a tool-search portal's list, a 2026-07-28 question of the gateway's. */
function answered(x: McpRequest, passage: Passage, id: RequestId | null, result: Record<string, unknown>) {
  const answer = JSON.stringify({ jsonrpc: '2.0', id, result });
  finish(x, passage, 'success', answer.length);
  return new Response(answer, { headers: { 'content-type': 'application/json' } });
}

/** Whether this caller may use what is behind the URL, on a session id worth sending on; a refusal if not. */
function connectable(x: McpRequest, scope: Scope): Response | undefined {
  if (!scope.mayUse()) return refusalResponse({ kind: 'forbidden', server: x.server });
  const sessionId = x.request.headers.get('mcp-session-id');
  if (sessionId !== null && !validSessionId(sessionId))
    return refusalResponse({ kind: 'invalid_session_id' });
  return undefined;
}

function argumentsOf(message: JSONRPCMessage): unknown {
  return 'params' in message ? (message.params as { arguments?: unknown } | undefined)?.arguments : undefined;
}
