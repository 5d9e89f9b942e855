import type { ServerDocument } from '../../shared/policy/document.ts';
import { filterDiscoverResult, mayDeliver } from '../../shared/policy/gate.ts';
import { portalNaming } from '../../shared/portal/gate.ts';
import { filterPortalList, filterPortalListText, type MemberListed } from '../../shared/portal/lists.ts';
import { type JSONRPCMessage, paramsOf } from '../../shared/protocol/jsonrpc.ts';
import { observeList } from './listed.ts';
import { membersFor } from './members.ts';
import type { McpRequest, Passage } from './passage.ts';
import type { View } from './view.ts';

/**
 * A portal's answers, read by its members' documents: a merged list is split back per member,
 * each part filtered by that member's document (the same predicate as at the member's own URL),
 * and merged again under the portal's names (shared/portal/lists.ts), from its text where it
 * can be read so.
 */
export function portalView(
  x: McpRequest,
  passage: Passage,
  members: ReadonlyMap<string, ServerDocument>,
  portal?: ServerDocument,
): View {
  let current = members;
  let known = fingerprint(members);
  const { principal } = passage;
  const naming = portalNaming(portal);
  const lists = () => ({ members: current, principal, naming, portal });
  const observe = ({ doc, listed }: MemberListed) => observeList(x, passage, doc, listed);
  return {
    mayDeliver(message) {
      const params = paramsOf(message);
      if (!('method' in message) || message.method !== 'notifications/resources/updated') return true;
      const named = typeof params?.uri === 'string' ? naming.ofUri(params.uri) : undefined;
      const doc = named === undefined ? undefined : current.get(named.member);
      if (named === undefined || doc === undefined) return false;
      const own = { ...message, params: { ...params, uri: named.name } } as JSONRPCMessage;
      return mayDeliver(doc, principal, own);
    },
    filtered(method, result) {
      if (method === 'server/discover') return filterDiscoverResult([...current.values()], principal, result);
      return filterPortalList(lists(), method, result, observe);
    },
    filteredText(method, text) {
      const filtered = filterPortalListText(lists(), method, text);
      for (const part of filtered?.parts ?? []) observe(part);
      return filtered?.spliced;
    },
    async changed() {
      const now = await membersFor(x.env.GATEWAY_KV, x.settings, principal, portal);
      const print = fingerprint(now);
      if (print === known) return false;
      known = print;
      current = now;
      return true;
    },
  };
}

function fingerprint(members: ReadonlyMap<string, ServerDocument>): string {
  return JSON.stringify([...members].sort(([a], [b]) => a.localeCompare(b)));
}
