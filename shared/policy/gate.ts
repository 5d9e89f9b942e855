import {
  clientNotificationMethods,
  clientRequestMethods,
  type JSONRPCMessage,
  modernClientRequestMethods,
  paramsOf,
  type RequestId,
} from '../protocol/jsonrpc.ts';
import type { Refusal } from '../protocol/refusal.ts';
import type { ServerDocument } from './document.ts';
import { listShapes } from './list-text.ts';
import { decide, decider, gateCall, type Kind, type Principal, seesNothing, visibleTools } from './policy.ts';

/** What the edge does with one client message, decided on the message it parsed (never on headers). */
export type Gate =
  | { action: 'forward'; message: JSONRPCMessage; method: string | undefined; name: string | undefined }
  | { action: 'refuse'; refusal: Refusal; id: RequestId; method: string; name: string | undefined }
  | { action: 'drop'; method: string };

/** The prompt or resource a request names, for the methods the policy covers beyond tools. */
function subjectOf(
  method: string,
  params: Record<string, unknown> | undefined,
): [Exclude<Kind, 'tools'>, unknown] | undefined {
  switch (method) {
    case 'prompts/get':
      return ['prompts', params?.name];
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return ['resources', params?.uri];
    case 'completion/complete': {
      const ref = params?.ref as { type?: unknown; name?: unknown; uri?: unknown } | undefined;
      if (ref?.type === 'ref/prompt') return ['prompts', ref.name];
      if (ref?.type === 'ref/resource') return ['resources', ref.uri];
      return ['prompts', undefined];
    }
    default:
      return undefined;
  }
}

function refuse(id: RequestId, method: string, name: string | undefined, refusal: Refusal): Gate {
  return { action: 'refuse', refusal, id, method, name };
}

/** Which revision's methods a message may use: 2025-11-25 sessions, or 2026-07-28 stateless requests. */
export type Era = 'legacy' | 'modern';

/**
 * What is decided before any document is read: a response goes on, a notification MCP has goes
 * on (another is dropped), a method this revision does not have is refused. Undefined: a request
 * the policy decides.
 */
export function gateEnvelope(message: JSONRPCMessage, era: Era): Gate | undefined {
  if (!('method' in message)) return { action: 'forward', message, method: undefined, name: undefined };
  const method = message.method;
  if (!('id' in message)) {
    return clientNotificationMethods.has(method)
      ? { action: 'forward', message, method, name: undefined }
      : { action: 'drop', method };
  }
  if (!(era === 'modern' ? modernClientRequestMethods : clientRequestMethods).has(method)) {
    return refuse(message.id, method, undefined, {
      kind: 'unknown_method',
      method,
      stateless: era === 'modern',
    });
  }
  return undefined;
}

export function gateMessage(
  doc: ServerDocument,
  principal: Principal,
  message: JSONRPCMessage,
  era: Era = 'legacy',
): Gate {
  const decided = gateEnvelope(message, era);
  if (decided !== undefined) return decided;
  // Neither a response nor a notification: a request of a method this revision has.
  const { id, method } = message as JSONRPCMessage & { id: RequestId; method: string };
  const params = paramsOf(message);
  if (method === 'tools/call') {
    const name = params?.name;
    if (typeof name !== 'string') {
      return refuse(id, method, undefined, {
        kind: 'invalid_params',
        detail: 'tools/call needs params.name, a string',
      });
    }
    const gate = gateCall(doc, principal, name);
    if (!gate.allowed) {
      const refusal = notPermitted('tools', name, doc.name, gate.reason);
      return refuse(id, method, name, refusal);
    }
    const forwarded = { ...message, params: { ...params, name: gate.realName } } as JSONRPCMessage;
    return { action: 'forward', message: forwarded, method, name: gate.realName };
  }
  if (method === 'subscriptions/listen') return gateListen(doc, principal, message, params);
  const subject = subjectOf(method, params);
  if (subject !== undefined) {
    const [kind, name] = subject;
    const label = typeof name === 'string' ? name : undefined;
    const verdict = label === undefined ? undefined : decide(doc, principal, kind, label);
    if (!verdict?.allowed) {
      const reason = verdict?.allowed === false ? verdict.reason : 'invalid';
      return refuse(id, method, label, notPermitted(kind, label, doc.name, reason));
    }
    return { action: 'forward', message, method, name: label };
  }
  return { action: 'forward', message, method, name: undefined };
}

function notPermitted(offered: Kind, name: string | undefined, server: string, reason: string): Refusal {
  return { kind: 'not_permitted', offered, name, server, reason };
}

/** A listen request keeps only the resource subscriptions this principal may read. */
function gateListen(
  doc: ServerDocument,
  principal: Principal,
  message: JSONRPCMessage,
  params: Record<string, unknown> | undefined,
): Gate {
  return keptSubscriptions(message, params, (uri) => decide(doc, principal, 'resources', uri).allowed);
}

/**
 * A listen request with only the resource subscriptions `mayRead` keeps; anything but a list of
 * URIs is dropped, malformed values included.
 */
export function keptSubscriptions(
  message: JSONRPCMessage,
  params: Record<string, unknown> | undefined,
  mayRead: (uri: string) => boolean,
): Gate {
  const filter = (params?.notifications ?? {}) as Record<string, unknown>;
  const method = 'subscriptions/listen';
  if (filter.resourceSubscriptions === undefined)
    return { action: 'forward', message, method, name: undefined };
  const uris: unknown[] = Array.isArray(filter.resourceSubscriptions) ? filter.resourceSubscriptions : [];
  const kept = uris.filter((uri) => typeof uri === 'string' && mayRead(uri));
  const notifications = { ...filter, resourceSubscriptions: kept };
  const forwarded = { ...message, params: { ...params, notifications } } as JSONRPCMessage;
  return { action: 'forward', message: forwarded, method, name: undefined };
}

/**
 * Whether a server's notification may reach this principal: an update about a resource they may
 * not read is dropped, so a stream never names what a list would hide.
 */
export function mayDeliver(doc: ServerDocument, principal: Principal, message: JSONRPCMessage): boolean {
  if (!('method' in message) || message.method !== 'notifications/resources/updated') return true;
  const uri = paramsOf(message)?.uri;
  return typeof uri === 'string' && decide(doc, principal, 'resources', uri).allowed;
}

/** Whether the answer to this method is a list the policy filters on its way back. */
export function isFilteredList(method: string | undefined): boolean {
  return method !== undefined && method in listShapes;
}

/** Whether the answer to this method is rewritten for the caller: a filtered list, or `server/discover`. */
export function rewritesAnswer(method: string): boolean {
  return isFilteredList(method) || method === 'server/discover';
}

const capabilityKinds: Kind[] = ['tools', 'prompts', 'resources'];

/**
 * A `server/discover` result as this principal may see it: the capabilities of kinds it can
 * use nothing of are removed, as `tools/list` would come back empty. Several documents (a
 * portal's members): a kind goes when none of them shows the principal anything of it.
 */
export function filterDiscoverResult(
  docs: ServerDocument | readonly ServerDocument[],
  principal: Principal,
  result: Record<string, unknown>,
): Record<string, unknown> {
  const all = Array.isArray(docs) ? docs : [docs as ServerDocument];
  const capabilities = { ...(result.capabilities as Record<string, unknown> | undefined) };
  for (const kind of capabilityKinds) {
    if (all.every((doc) => seesNothing(doc, principal, kind))) delete capabilities[kind];
  }
  return privately({ ...result, capabilities });
}

/** A result filtered for one principal may be cached by that client only, whatever the server said. */
function privately(result: Record<string, unknown>): Record<string, unknown> {
  return 'cacheScope' in result ? { ...result, cacheScope: 'private' } : result;
}

type Listed = Record<string, unknown> & { name?: unknown; uri?: unknown; uriTemplate?: unknown };

/** A list result as this principal may see it: the same predicate as the call gate. */
export function filterListResult(
  doc: ServerDocument,
  principal: Principal,
  method: string,
  result: Record<string, unknown>,
): Record<string, unknown> {
  const shape = listShapes[method];
  if (shape === undefined) return result;
  const { field, key, kind } = shape;
  if (kind === 'tools') {
    const tools = Array.isArray(result.tools) ? (result.tools as Listed[]) : [];
    const named = tools.filter((t): t is Listed & { name: string } => typeof t.name === 'string');
    return privately({ ...result, tools: visibleTools(doc, principal, named) });
  }
  const items = Array.isArray(result[field]) ? (result[field] as Listed[]) : [];
  const allowed = decider(doc, principal, kind);
  const kept = items.filter((item) => typeof item[key] === 'string' && allowed(item[key] as string).allowed);
  return privately({ ...result, [field]: kept });
}
