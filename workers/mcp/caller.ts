import type { Principal } from '../../shared/policy/policy.ts';
import { refusalResponse } from '../../shared/protocol/refusal.ts';
import { checkOrigin } from '../../shared/security/origin.ts';
import { authenticate, credentialRefusal } from '../auth.ts';
import type { McpRequest } from './passage.ts';

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
