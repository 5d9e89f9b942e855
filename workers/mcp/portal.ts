import { parseDocument, type ServerDocument } from '../../shared/policy/document.ts';
import { mayConnect, type Principal } from '../../shared/policy/policy.ts';
import { gatePortalMessage, type Members } from '../../shared/portal/gate.ts';
import { portalPath } from '../../shared/portal/names.ts';
import { askedOf } from '../../shared/portal/rewrite.ts';
import { searchRewrite } from '../../shared/portal/search.ts';
import { refusalResponse } from '../../shared/protocol/refusal.ts';
import type { Settings } from '../env.ts';
import { caller } from './caller.ts';
import { atBridge } from './forward.ts';
import { membersFor } from './members.ts';
import type { McpRequest, Scope } from './passage.ts';
import { portalView } from './portal-view.ts';

/**
 * The portal's own settings, for what no member decides (the audit of a request no member
 * answers alone): it grants nothing; its members' documents decide everything they serve.
 */
const portalDocument = (() => {
  const parsed = parseDocument({ version: 1, name: 'portal', access: {} });
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.document;
})();

/**
 * The first stage for the portal at `/mcp`: the caller, then every server whose document admits
 * them and whose requests go to the environment's bridge. The bridge is told which (signed), so
 * that it reaches no other; the edge decides each message by its member's document.
 */
export async function admitPortal(x: McpRequest, url: URL): Promise<Scope | Response> {
  const metadata = `${url.origin}/.well-known/oauth-protected-resource${portalPath}`;
  const principal = await caller(x, url, `${url.origin}${portalPath}`, metadata);
  if (principal instanceof Response) return principal;
  const members = await membersFor(x.env.GATEWAY_KV, x.settings, principal);
  if (members.size === 0 && principal.method === 'anonymous') {
    const detail = 'this MCP portal needs a bearer token';
    return refusalResponse({ kind: 'unauthorized', resourceMetadata: metadata, detail });
  }
  return portalScope(members, principal, x.settings);
}

/** A named portal (a document with `portal`), admitted as its own URL's server was: by its `access`. */
export async function namedPortal(
  x: McpRequest,
  principal: Principal,
  portal: ServerDocument,
): Promise<Scope> {
  const members = await membersFor(x.env.GATEWAY_KV, x.settings, principal, portal);
  return {
    ...portalScope(members, principal, x.settings, portal),
    mayUse: () => mayConnect(portal, principal),
  };
}

function portalScope(
  members: Members,
  principal: Principal,
  settings: Settings,
  portal?: ServerDocument,
): Scope {
  return {
    portal: portal?.name ?? portalPath,
    doc: portal ?? portalDocument,
    principal,
    // A caller who may reach no server has an empty portal, not a refusal that names none.
    mayUse: () => true,
    gate(message, era) {
      const searched = portal?.portal?.toolSearch ? searchRewrite(message, era === 'modern') : { message };
      if ('answer' in searched && 'id' in message && message.id !== undefined) {
        return { action: 'answer', id: message.id, method: 'tools/list', result: searched.answer };
      }
      const rewritten = 'message' in searched ? searched.message : message;
      const gate = gatePortalMessage(members, principal, rewritten, era, portal);
      const doc = gate.member === undefined ? undefined : members.get(gate.member);
      const reshape = 'reshape' in searched ? searched.reshape : undefined;
      const member = doc === undefined ? undefined : { name: doc.name, doc };
      return { ...gate, member, asked: askedOf(rewritten), reshape };
    },
    target: () => portalTarget(members, settings, portal),
    // A request for one member asserts the caller to that member only; a list, to each that needs it.
    personal: (member) =>
      [...members.values()].filter(
        (doc) => doc.identity.mode !== 'service' && (member === undefined || doc.name === member),
      ),
    view: (x, passage) => portalView(x, passage, members, portal),
  };
}

/** The bridge's portal, told which members this caller may reach now (the signature covers the query). */
function portalTarget(members: Members, settings: Settings, portal?: ServerDocument): URL | undefined {
  const url = atBridge(settings, 'mcp');
  url?.searchParams.set('servers', [...members.keys()].sort().join(','));
  const unprefixed = portal?.portal?.unprefixed;
  if (unprefixed !== undefined) url?.searchParams.set('unprefixed', unprefixed);
  return url;
}
