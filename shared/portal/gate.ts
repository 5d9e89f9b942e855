import type { ServerDocument } from '../policy/document.ts';
import { type Era, type Gate, gateEnvelope, gateMessage, keptSubscriptions } from '../policy/gate.ts';
import { decide, type Kind, type Principal } from '../policy/policy.ts';
import { type JSONRPCMessage, paramsOf, type RequestId } from '../protocol/jsonrpc.ts';
import { type Naming, naming } from './names.ts';
import { addressed, backToPortal } from './rewrite.ts';

/** The documents of the servers a caller may reach through a portal, by name. */
export type Members = ReadonlyMap<string, ServerDocument>;

/**
 * What the edge does with one client message of a portal: a request that names a tool, prompt
 * or resource is decided by its member's own gate (the one predicate, on the member's own name),
 * then forwarded under the portal's name again (a renamed tool under its real one). Nothing that
 * no member the caller may reach has is let through.
 */
export function gatePortalMessage(
  members: Members,
  principal: Principal,
  message: JSONRPCMessage,
  era: Era = 'legacy',
  portal?: ServerDocument,
): Gate & { member?: string } {
  const decided = gateEnvelope(message, era);
  if (decided !== undefined) return decided;
  // Neither a response nor a notification: a request of a method this revision has.
  const request = message as JSONRPCMessage & { id: RequestId; method: string };
  const { id, method } = request;
  const names = portalNaming(portal);
  if (method === 'subscriptions/listen') return gateListen(names, members, principal, request);
  const address = addressed(names, request);
  if (address.to === 'all') return { action: 'forward', message, method, name: undefined };
  const doc = address.to === 'member' ? members.get(address.member) : undefined;
  // What the request names: a tool, else a prompt by name or a resource by URI (completions either).
  const kind: Kind = method === 'tools/call' ? 'tools' : address.uri ? 'resources' : 'prompts';
  const server = portal?.name ?? 'portal';
  if (address.to === 'none' || doc === undefined) {
    const refusal = {
      kind: 'not_permitted',
      offered: kind,
      name: address.asked,
      server,
      reason: 'unknown_name',
    } as const;
    return { action: 'refuse', refusal, id, method, name: undefined };
  }
  const gate = gateMessage(doc, principal, address.message, era);
  if (gate.action !== 'forward') return { ...gate, member: address.member };
  // A named portal narrows by its own names, with the same predicate: it never widens.
  const narrowed =
    portal !== undefined && kind !== 'resources' ? decide(portal, principal, kind, address.asked) : undefined;
  if (narrowed !== undefined && !narrowed.allowed) {
    const refusal = {
      kind: 'not_permitted',
      offered: kind,
      name: address.asked,
      server,
      reason: narrowed.reason,
    } as const;
    return { action: 'refuse', refusal, id, method, name: gate.name, member: address.member };
  }
  const forwarded = backToPortal(names, address.member, gate.message as JSONRPCMessage & { method: string });
  return { ...gate, message: forwarded, member: address.member };
}

/** A listen stream keeps only the resource subscriptions each member's document lets this caller read. */
function gateListen(names: Naming, members: Members, principal: Principal, message: JSONRPCMessage): Gate {
  return keptSubscriptions(message, paramsOf(message), (uri) => {
    const named = names.ofUri(uri);
    const doc = named === undefined ? undefined : members.get(named.member);
    return (
      named !== undefined && doc !== undefined && decide(doc, principal, 'resources', named.name).allowed
    );
  });
}

/** How a portal names its members: a named portal may serve one member's names as they are. */
export function portalNaming(portal?: ServerDocument): Naming {
  return naming(portal?.portal?.unprefixed);
}
