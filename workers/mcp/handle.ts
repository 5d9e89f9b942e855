import { askedOf } from '../../shared/portal/rewrite.ts';
import { type JSONRPCMessage, validSessionId } from '../../shared/protocol/jsonrpc.ts';
import { reasonOf, refusalResponse } from '../../shared/protocol/refusal.ts';
import { admit } from './admit.ts';
import { forward } from './forward.ts';
import { countRefused, finish, recordOf } from './meter.ts';
import type { McpRequest, Passage, Scope } from './passage.ts';
import { overQuota } from './quota.ts';
import { readIncoming } from './read.ts';

/**
 * One MCP request at the edge, stage by stage: admit (origin, credentials, what is behind the
 * URL) → read (bounded body, revision) → gate (the policy on the parsed message) → forward
 * (signed, to the bridge) → relay (the answer filtered on its way back). Metering reads the one
 * record. A server's URL and a portal's differ only in how they admit (`admit.ts`, `portal.ts`).
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
  if (gate.action === 'answer') {
    const answer = JSON.stringify({ jsonrpc: '2.0', id: gate.id, result: gate.result });
    finish(x, passage, 'success', answer.length);
    return new Response(answer, { headers: { 'content-type': 'application/json' } });
  }
  passage.reshape = gate.reshape;
  if (gate.action === 'refuse') {
    record.decision = reasonOf(gate.refusal);
    passage.audited = argumentsOf(message);
    finish(x, passage, 'refused', 0);
    return refusalResponse(gate.refusal, gate.id);
  }
  passage.audited = argumentsOf(gate.message);
  if (gate.method === 'tools/call' && gate.name !== undefined) {
    const over = await overQuota(x, passage, gate.name);
    if (over instanceof Response) return over;
    if (over !== undefined) {
      record.decision = reasonOf(over);
      finish(x, passage, 'refused', 0);
      return refusalResponse(over, 'id' in gate.message ? gate.message.id : null);
    }
  }
  passage.revision = revision;
  passage.personal = scope.personal(gate.member?.name);
  const body = new TextEncoder().encode(JSON.stringify(gate.message));
  return forward(x, passage, scope.target(url), body, gate);
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
