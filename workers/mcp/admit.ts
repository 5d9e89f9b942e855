import type { ServerDocument } from '../../shared/policy/document.ts';
import { mayConnect, type Principal } from '../../shared/policy/policy.ts';
import { refusalResponse } from '../../shared/protocol/refusal.ts';
import { checkOrigin } from '../../shared/security/origin.ts';
import { authenticate, credentialRefusal } from '../auth.ts';
import { loadDocument } from '../documents.ts';
import { resourceOf } from '../sign-in/oauth.ts';
import type { McpRequest } from './passage.ts';

export interface Admitted {
  doc: ServerDocument;
  principal: Principal;
}

export function resourceMetadataUrl(url: URL, server: string): string {
  return `${url.origin}/.well-known/oauth-protected-resource/${server}/mcp`;
}

/**
 * The first stage: the browser origin, then the caller's credentials, then the server's
 * document, then whether this caller may use the server at all. A caller without valid
 * credentials learns nothing of which servers exist.
 */
export async function admit(x: McpRequest, url: URL): Promise<Admitted | Response> {
  const { request, env, settings, server } = x;
  const origin = request.headers.get('origin') ?? undefined;
  const policy = { allowedHosts: settings.ALLOWED_HOSTS, allowedOrigins: settings.ALLOWED_ORIGINS };
  const verdict = checkOrigin(policy, url.host, origin);
  if (verdict === 'forbidden_host') return refusalResponse({ kind: 'forbidden_host' });
  // The gateway's own page (same origin) may call; other browser origins only when listed.
  if (verdict === 'forbidden_origin' && origin !== url.origin)
    return refusalResponse({ kind: 'forbidden_origin' });

  const resource = resourceOf(url.origin, server);
  const auth = await authenticate(request.headers.get('authorization'), env, settings, resource);
  const metadata = resourceMetadataUrl(url, server);
  if (!auth.ok) return refusalResponse(credentialRefusal(auth.reason, metadata));
  const loaded = await loadDocument(env.GATEWAY_KV, server, settings.DOCUMENT_CACHE_SECONDS);
  const anonymousAllowed = loaded.ok && loaded.document.access.anonymous;
  if (auth.principal.method === 'anonymous' && !anonymousAllowed) {
    const detail = 'this MCP server needs a bearer token';
    return refusalResponse({ kind: 'unauthorized', resourceMetadata: metadata, detail });
  }
  if (!loaded.ok) {
    if (loaded.problem === 'missing') return refusalResponse({ kind: 'unknown_server', server });
    console.error(JSON.stringify({ event: 'document.invalid', server, detail: loaded.detail }));
    return refusalResponse({ kind: 'document_invalid', server });
  }
  return { doc: loaded.document, principal: auth.principal };
}

/** Checked after the body is read: a request whose headers and body disagree is refused before this. */
export function mayUse(admitted: Admitted): boolean {
  return mayConnect(admitted.doc, admitted.principal);
}
