import type { ServerDocument } from '../../shared/policy/document.ts';
import {
  filterDiscoverResult,
  filterListResult,
  isFilteredList,
  mayDeliver,
} from '../../shared/policy/gate.ts';
import { portalNaming } from '../../shared/portal/gate.ts';
import { listsByMember, namespacedList, portalLists } from '../../shared/portal/rewrite.ts';
import { type JSONRPCMessage, paramsOf } from '../../shared/protocol/jsonrpc.ts';
import { namedTools, observeList } from './listed.ts';
import { membersFor } from './members.ts';
import type { McpRequest, Passage } from './passage.ts';
import type { View } from './view.ts';

/**
 * A portal's answers, read by its members' documents: a merged list is split back per member,
 * each part filtered by that member's document (the same predicate as at the member's own URL),
 * and merged again under the portal's names.
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
      const field = portalLists[method]?.field;
      if (!isFilteredList(method) || field === undefined) return undefined;
      const items: Record<string, unknown>[] = [];
      for (const [member, list] of listsByMember(naming, method, result)) {
        const doc = current.get(member);
        if (doc === undefined) continue;
        if (method === 'tools/list') observeList(x, passage, doc, () => namedTools({ tools: list }));
        const kept = filterListResult(doc, principal, method, { [field]: list });
        items.push(...namespacedList(naming, member, method, kept));
      }
      const merged = { ...result, [field]: items };
      // A named portal narrows its tools and prompts by their portal names, with the same predicate.
      const narrows = portal !== undefined && (method === 'tools/list' || method === 'prompts/list');
      return narrows ? filterListResult(portal, principal, method, merged) : merged;
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
