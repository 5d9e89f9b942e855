import {
  callDigest,
  confirmationRequest,
  confirmKey,
  needsConfirmation,
} from '../../shared/policy/confirm.ts';
import type { ServerDocument } from '../../shared/policy/document.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import { type JSONRPCMessage, paramsOf } from '../../shared/protocol/jsonrpc.ts';
import type { Refusal } from '../../shared/protocol/refusal.ts';
import type { Revision } from '../../shared/protocol/revision.ts';
import { seal, sealingKey, unseal } from '../../shared/security/sealing.ts';
import type { Approvals } from '../approval/approvals.ts';
import { misconfigured } from './meter.ts';
import type { McpRequest, Passage } from './passage.ts';

/**
 * The approval stage, for a tool call whose document asks for the person's approval
 * (docs/server-documents.md#confirm). The gateway asks them itself, naming the server, the tool
 * and the arguments:
 * - 2025-11-25: an `elicitation/create` on the call's own stream; the client's answer comes back
 *   in another POST, maybe to another isolate, and meets the question in a Durable Object;
 * - 2026-07-28: an `input_required` answer whose `requestState` the gateway sealed (AES-GCM,
 *   bound to the person and server, the call's digest and an expiry; spent once accepted).
 * The call goes on exactly as asked once they accept.
 */
export type Approval =
  | {
      kind: 'go';
      message: JSONRPCMessage;
      /** For an approved 2026-07-28 call: the server's own requestState, carried under the gateway's. */
      reshape?: (result: Record<string, unknown>) => Record<string, unknown>;
    }
  | { kind: 'refuse'; refusal: Refusal }
  | { kind: 'answer'; result: Record<string, unknown> }
  | { kind: 'ask'; question: JSONRPCMessage; decision: () => Promise<Approval> };

/** The ids of the gateway's own questions: `mcp-gateway-confirm:<server>:<random>`. */
const questionPrefix = 'mcp-gateway-confirm:';
const statePrefix = 'mcpgw-approval.';
/** How long a 2026-07-28 question stays answerable, and a 2025-11-25 one is waited for. */
const stateSeconds = 600;
const askSeconds = 300;

type Modern = Extract<Revision, { era: 'modern' }>;
type Legacy = Extract<Revision, { era: 'legacy' }>;

function personKey(server: string, principal: Principal): string {
  return `${server}\n${principal.method}:${principal.subject}`;
}

function sessionKey(session: string): string {
  return `session\n${session}`;
}

export async function approval(
  x: McpRequest,
  passage: Passage,
  message: JSONRPCMessage,
  tool: string,
  revision: Legacy | Modern,
): Promise<Approval | Response> {
  const { doc, principal } = passage;
  if (!needsConfirmation(doc, principal, tool)) return { kind: 'go', message };
  const approvals = x.env.APPROVALS;
  if (approvals === undefined) {
    return misconfigured(x, passage, 'approval.unconfigured', {
      server: doc.name,
      fix: 'bind the Approvals Durable Object as APPROVALS (wrangler.toml durable_objects)',
    });
  }
  const person = approvals.get(approvals.idFromName(personKey(doc.name, principal)));
  const asked = { x, passage, message, tool, person };
  return revision.era === 'modern' ? stateless(asked, revision) : onStream(asked, approvals);
}

interface Asked {
  x: McpRequest;
  passage: Passage;
  message: JSONRPCMessage;
  tool: string;
  person: DurableObjectStub<Approvals>;
}

const unavailable = (a: Asked, reason: 'no_elicitation' | 'timed_out'): Approval => ({
  kind: 'refuse',
  refusal: { kind: 'approval_unavailable', server: a.passage.doc.name, tool: a.tool, reason },
});

const invalid = (detail: string): Approval => ({
  kind: 'refuse',
  refusal: { kind: 'approval_invalid', detail },
});

/** What the person's answer (an elicitation result, or a JSON-RPC error) decides. */
function decided(a: Asked, answer: unknown, message: JSONRPCMessage): Approval {
  const action = (answer as { action?: unknown } | undefined)?.action;
  if (action === 'accept') {
    a.passage.approval = { by: a.passage.principal.subject, at: new Date().toISOString() };
    return { kind: 'go', message };
  }
  const refusal = {
    kind: 'approval_declined',
    server: a.passage.doc.name,
    tool: a.tool,
    action: action === 'decline' ? 'decline' : 'cancel',
  } as const;
  return { kind: 'refuse', refusal };
}

async function onStream(a: Asked, approvals: DurableObjectNamespace<Approvals>): Promise<Approval> {
  const session = a.x.request.headers.get('mcp-session-id');
  const stub = session === null ? undefined : approvals.get(approvals.idFromName(sessionKey(session)));
  const declared = (await stub?.capabilities()) as Record<string, unknown> | undefined;
  if (declared?.elicitation === undefined) return unavailable(a, 'no_elicitation');
  const id = `${questionPrefix}${a.passage.doc.name}:${crypto.randomUUID()}`;
  const params = confirmationRequest(a.passage.doc.name, a.tool, paramsOf(a.message)?.arguments);
  const question = { jsonrpc: '2.0', id, method: 'elicitation/create', params } as JSONRPCMessage;
  const decision = async () => {
    const answer = (await a.person.answerTo(id, askSeconds * 1000)) as
      | { result?: unknown; error?: unknown }
      | undefined;
    if (answer === undefined) return unavailable(a, 'timed_out');
    return decided(a, answer.result, a.message);
  };
  return { kind: 'ask', question, decision };
}

/**
 * A client's answer to one of the gateway's questions (2025-11-25): handed to whoever waits for
 * it, and not forwarded. Undefined: not an answer of the gateway's.
 */
export async function takeAnswer(
  x: McpRequest,
  principal: Principal,
  message: JSONRPCMessage,
): Promise<Response | undefined> {
  if ('method' in message || !('id' in message) || typeof message.id !== 'string') return undefined;
  if (!message.id.startsWith(questionPrefix)) return undefined;
  const server = message.id.slice(questionPrefix.length).split(':')[0] ?? '';
  const approvals = x.env.APPROVALS;
  if (approvals !== undefined) {
    // Under the answering person's key: an answer only reaches a question asked of them.
    await approvals.get(approvals.idFromName(personKey(server, principal))).answer(message.id, message);
  }
  return new Response(null, { status: 202 });
}

/**
 * What a 2025-11-25 session's client declared at initialize, remembered for the questions to
 * come: where something behind the URL may ask (a document with `confirm`, or a portal).
 */
export function rememberCapabilities(
  x: McpRequest,
  scope: { doc: ServerDocument; portal?: string },
  message: JSONRPCMessage,
  response: Response,
): void {
  const approvals = x.env.APPROVALS;
  const session = response.headers.get('mcp-session-id');
  const initialize = 'method' in message && message.method === 'initialize';
  if (approvals === undefined || session === null || !initialize) return;
  if (scope.doc.confirm.length === 0 && scope.portal === undefined) return;
  const capabilities = (paramsOf(message)?.capabilities ?? {}) as Record<string, unknown>;
  x.ctx.waitUntil(approvals.get(approvals.idFromName(sessionKey(session))).remember(capabilities));
}

/**
 * What the gateway's requestState holds: a question's (`n`, spent once accepted), or, for the
 * server's own question about a call approved before, the approval carried on (`carried`), with
 * the server's requestState after a `.`.
 */
interface State {
  n?: string;
  exp: number;
  d: string;
  carried?: true;
}

/** The server's own requestState about an approved call, under the gateway's: the retry is not asked again. */
async function carryOn(key: Awaited<ReturnType<typeof sealingKey>>, context: string, digest: string) {
  const state: State = { exp: Date.now() + stateSeconds * 1000, d: digest, carried: true };
  const sealed = await seal(key, JSON.stringify(state), context);
  return (result: Record<string, unknown>) =>
    typeof result.requestState === 'string'
      ? { ...result, requestState: `${statePrefix}${sealed}.${result.requestState}` }
      : result;
}

async function stateless(a: Asked, revision: Modern): Promise<Approval> {
  const { doc, principal } = a.passage;
  const params = paramsOf(a.message) ?? {};
  const carried = params.requestState;
  // Every state of such a call is the gateway's: a server's own is carried inside one.
  if (typeof carried === 'string' && !carried.startsWith(statePrefix))
    return invalid('requestState is not one the gateway gave you');
  const key = await sealingKey(a.x.settings.BRIDGE_SIGNING_SECRET, 'approval-state');
  const context = personKey(doc.name, principal);
  const digest = await callDigest(a.tool, params.arguments);
  if (typeof carried !== 'string') {
    if (revision.clientCapabilities.elicitation === undefined) return unavailable(a, 'no_elicitation');
    const state: State = { n: crypto.randomUUID(), exp: Date.now() + stateSeconds * 1000, d: digest };
    const requestState = statePrefix + (await seal(key, JSON.stringify(state), context));
    const question = {
      method: 'elicitation/create',
      params: confirmationRequest(doc.name, a.tool, params.arguments),
    };
    return {
      kind: 'answer',
      result: { resultType: 'input_required', inputRequests: { [confirmKey]: question }, requestState },
    };
  }
  const [sealed = '', ...inner] = carried.slice(statePrefix.length).split('.');
  const opened = await unseal(key, sealed, context);
  const state = opened === undefined ? undefined : (JSON.parse(opened) as State);
  if (state === undefined) return invalid('requestState is not one the gateway gave you');
  if (state.exp < Date.now()) return invalid('requestState has expired');
  if (state.d !== digest)
    return invalid('requestState was given for another call (its tool or arguments differ)');
  const reshape = await carryOn(key, context, digest);
  if (state.carried === true) {
    const message = { ...a.message, params: { ...params, requestState: inner.join('.') } } as JSONRPCMessage;
    return { kind: 'go', message, reshape };
  }
  const responses = (params.inputResponses ?? {}) as Record<string, unknown>;
  const answer = responses[confirmKey];
  if (answer === undefined) return invalid(`inputResponses has no answer to "${confirmKey}"`);
  const { requestState: _state, inputResponses: _responses, ...rest } = params;
  const others = Object.fromEntries(Object.entries(responses).filter(([name]) => name !== confirmKey));
  const forwarded = {
    ...a.message,
    params: Object.keys(others).length > 0 ? { ...rest, inputResponses: others } : rest,
  } as JSONRPCMessage;
  const outcome = decided(a, answer, forwarded);
  if (outcome.kind !== 'go') return outcome;
  if (!(await a.person.spend(state.n ?? '', state.exp))) {
    a.passage.approval = undefined;
    return invalid('requestState was already used');
  }
  return { ...outcome, reshape };
}
