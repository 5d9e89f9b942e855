import type { ServerDocument } from '../../shared/policy/document.ts';
import { gateMessage } from '../../shared/policy/gate.ts';
import { mayConnect, type Principal } from '../../shared/policy/policy.ts';
import { refusalResponse } from '../../shared/protocol/refusal.ts';
import { loadDocument } from '../documents.ts';
import type { Settings } from '../env.ts';
import { resourceOf } from '../sign-in/oauth.ts';
import { caller } from './caller.ts';
import { documentView } from './document-view.ts';
import { targetOf } from './forward.ts';
import type { McpRequest, Scope } from './passage.ts';
import { namedPortal } from './portal.ts';

export function resourceMetadataUrl(url: URL, server: string): string {
  return `${url.origin}/.well-known/oauth-protected-resource/${server}/mcp`;
}

/**
 * The first stage for one server: the caller, then the server's document, then whether this
 * caller may use the server at all.
 */
export async function admit(x: McpRequest, url: URL): Promise<Scope | Response> {
  const { env, settings, server } = x;
  const metadata = resourceMetadataUrl(url, server);
  const principal = await caller(x, url, resourceOf(url.origin, server), metadata);
  if (principal instanceof Response) return principal;
  const loaded = await loadDocument(env.GATEWAY_KV, server, settings.DOCUMENT_CACHE_SECONDS);
  const anonymousAllowed = loaded.ok && loaded.document.access.anonymous;
  if (principal.method === 'anonymous' && !anonymousAllowed) {
    const detail = 'this MCP server needs a bearer token';
    return refusalResponse({ kind: 'unauthorized', resourceMetadata: metadata, detail });
  }
  if (!loaded.ok) {
    if (loaded.problem === 'missing') return refusalResponse({ kind: 'unknown_server', server });
    console.error(JSON.stringify({ event: 'document.invalid', server, detail: loaded.detail }));
    return refusalResponse({ kind: 'document_invalid', server });
  }
  const doc = loaded.document;
  // A named portal is served at its own document's URL, like a server.
  return doc.portal === undefined ? serverScope(doc, principal, settings) : namedPortal(x, principal, doc);
}

function serverScope(doc: ServerDocument, principal: Principal, settings: Settings): Scope {
  return {
    doc,
    principal,
    mayUse: () => mayConnect(doc, principal),
    gate: (message, era) => gateMessage(doc, principal, message, era),
    target: (url) => targetOf(doc, settings, url),
    personal: () => (doc.identity.mode !== 'service' ? [doc] : []),
    view: documentView,
  };
}
