import type { ServerDocument } from '../../shared/policy/document.ts';
import { gateMessage } from '../../shared/policy/gate.ts';
import { mayConnect, type Principal } from '../../shared/policy/policy.ts';
import { refusalResponse } from '../../shared/protocol/refusal.ts';
import { checkOrigin } from '../../shared/security/origin.ts';
import { authenticate, credentialRefusal } from '../auth.ts';
import { loadDocument } from '../documents.ts';
import type { Settings } from '../env.ts';
import { resourceOf } from '../sign-in/oauth.ts';
import { documentView } from './document-view.ts';
import { targetOf } from './forward.ts';
import type { McpRequest, Scope } from './passage.ts';

export function resourceMetadataUrl(url: URL, server: string): string {
  return `${url.origin}/.well-known/oauth-protected-resource/${server}/mcp`;
}

/**
 * The browser origin, then the caller's credentials (for `resource`): who is calling, or the
 * refusal. A caller without valid credentials learns nothing of which servers exist.
 */
export async function caller(
  x: McpRequest,
  url: URL,
  resource: string,
  metadata: string,
): Promise<Principal | Response> {
  const { request, env, settings } = x;
  const origin = request.headers.get('origin') ?? undefined;
  const policy = { allowedHosts: settings.ALLOWED_HOSTS, allowedOrigins: settings.ALLOWED_ORIGINS };
  const verdict = checkOrigin(policy, url.host, origin);
  if (verdict === 'forbidden_host') return refusalResponse({ kind: 'forbidden_host' });
  // The gateway's own page (same origin) may call; other browser origins only when listed.
  if (verdict === 'forbidden_origin' && origin !== url.origin)
    return refusalResponse({ kind: 'forbidden_origin' });
  const auth = await authenticate(request.headers.get('authorization'), env, settings, resource);
  return auth.ok ? auth.principal : refusalResponse(credentialRefusal(auth.reason, metadata));
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
  return serverScope(loaded.document, principal, settings);
}

function serverScope(doc: ServerDocument, principal: Principal, settings: Settings): Scope {
  return {
    doc,
    principal,
    mayUse: () => mayConnect(doc, principal),
    gate: (message, era) => gateMessage(doc, principal, message, era),
    target: (url) => targetOf(doc, settings, url),
    view: documentView,
  };
}
