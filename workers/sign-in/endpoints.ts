import { isPublicHost } from '../../shared/security/public-host.ts';
import type { Env, Settings } from '../env.ts';
import {
  authorizationServerForAll,
  authorizationServerOf,
  ensurePreRegisteredClients,
  needsCredential,
  type OAuthEnv,
  oauthPaths,
} from './oauth.ts';

/**
 * The OAuth library's own endpoints (metadata, token, revocation, registration), behind the
 * checks the gateway adds: which client ids may be used, and how large a form may be.
 */

type SignInEnv = Env & OAuthEnv;

const maxFormBytes = 64 * 1024;

/** A form body that says its length, and one small enough to read. */
export function formSizeAllowed(request: Request): boolean {
  const length = Number(request.headers.get('content-length') ?? Number.NaN);
  return length <= maxFormBytes;
}

/**
 * Why a client id may not be used: a client metadata document at a private address would
 * make the Worker fetch inside someone's network on a stranger's say-so.
 */
export function refusedClientId(clientId: string | null, settings: Settings): string | undefined {
  if (clientId === null || !/^https:\/\//i.test(clientId)) return undefined;
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return 'the client id is not a valid URL';
  }
  if (!settings.OAUTH_CLIENT_METADATA_DOCUMENTS) return undefined;
  if (settings.OAUTH_PRIVATE_CLIENT_HOSTS.includes(url.host)) return undefined;
  return isPublicHost(url.hostname)
    ? undefined
    : `the client metadata document ${url.origin} is at a private or reserved address`;
}

/**
 * Metadata, token, revocation and registration: the library's, behind the same client-id
 * check as /authorize (a token request names its client too, and a CIMD client is fetched).
 */
export async function protocolEndpoint(
  request: Request,
  env: SignInEnv,
  settings: Settings,
  ctx: ExecutionContext,
): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === oauthPaths.register && !settings.OAUTH_DYNAMIC_REGISTRATION) {
    const why = 'dynamic client registration is turned off here: ask an admin for a client id';
    return oauthError(404, 'invalid_request', why);
  }
  if (request.method === 'POST') {
    if (!formSizeAllowed(request))
      return oauthError(
        413,
        'invalid_request',
        `send a body of at most ${maxFormBytes} bytes with its Content-Length`,
      );
    const type = request.headers.get('content-type') ?? '';
    if (type.startsWith('application/x-www-form-urlencoded')) {
      const clientId = new URLSearchParams(await request.clone().text()).get('client_id');
      const refused = refusedClientId(clientId, settings);
      if (refused !== undefined) return oauthError(400, 'invalid_client', refused);
    }
  }
  const server = await authorizationServerForAll(settings, env, url.origin);
  if (server === undefined)
    return oauthError(503, 'temporarily_unavailable', 'this gateway has no MCP servers yet');
  await ensurePreRegisteredClients(settings, env);
  return server.fetch(request, env, ctx);
}

/** GET /.well-known/oauth-authorization-server/<server>/mcp: one server's sign-in, if it has one. */
export async function serverMetadata(
  request: Request,
  env: SignInEnv,
  settings: Settings,
  server: string,
  ctx: ExecutionContext,
): Promise<Response | undefined> {
  if (!(await needsCredential(env.GATEWAY_KV, server, settings.DOCUMENT_CACHE_SECONDS))) return undefined;
  return authorizationServerOf(settings, new URL(request.url).origin, server).fetch(request, env, ctx);
}

function oauthError(status: number, error: string, description: string): Response {
  return Response.json(
    { error, error_description: description },
    { status, headers: { 'cache-control': 'no-store' } },
  );
}
