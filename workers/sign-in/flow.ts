import {
  AuthorizationError,
  type AuthRequest,
  authorizationErrorRedirect,
  CimdFetchError,
} from '@cloudflare/workers-oauth-provider';
import { mayConnect } from '../../shared/policy/policy.ts';
import { effectiveGroups, oauthUserId } from '../../shared/storage/kv.ts';
import { loadDocument } from '../documents.ts';
import type { Env, Settings } from '../env.ts';
import { membersFor } from '../mcp/members.ts';
import { consentPage, errorPage } from './consent.ts';
import { formSizeAllowed, refusedClientId } from './endpoints.ts';
import { type IdentityProvider, identityProvider } from './identity-provider.ts';
import {
  authorizationServerForAll,
  authorizationServerOf,
  ensurePreRegisteredClients,
  needsCredential,
  type OAuthEnv,
  type OAuthHelpers,
  oauthPaths,
  portalServer,
  serverOfResource,
} from './oauth.ts';
import { loadPrincipal, savePrincipal } from './principals.ts';

type SignInSettings = Settings & { SIGN_IN_ISSUER: string; SIGN_IN_CLIENT_ID: string };
type SignInEnv = Env & OAuthEnv;

interface Upstream {
  verifier: string;
  nonce: string;
}

async function helpers(settings: Settings, env: SignInEnv, origin: string): Promise<OAuthHelpers | Response> {
  const server = await authorizationServerForAll(settings, env, origin);
  if (server === undefined) return errorPage(503, 'This gateway has no MCP servers yet.');
  await ensurePreRegisteredClients(settings, env);
  return server.getOAuthApi(env);
}

/**
 * The helpers that read a new authorization request: its server's own, so that the issuer
 * the client is sent back with (RFC 9207 `iss`) is the one it discovered. A request without
 * a resource is read by the gateway-wide server, as before per-server issuers.
 */
async function helpersFor(settings: Settings, env: SignInEnv, url: URL): Promise<OAuthHelpers | Response> {
  const resource = url.searchParams.get('resource');
  const server = serverOfResource(url.origin, resource ?? undefined);
  if (resource === null || server === undefined) return helpers(settings, env, url.origin);
  if (!(await needsCredential(env.GATEWAY_KV, server, settings.DOCUMENT_CACHE_SECONDS))) {
    return errorPage(400, `"${server}" has no sign-in here: it is open to everyone, or not a server.`);
  }
  await ensurePreRegisteredClients(settings, env);
  return authorizationServerOf(settings, url.origin, server).getOAuthApi(env);
}

/** What the library and the identity provider throw for a person's request, as a page. */
function answerError(error: unknown): Response {
  if (error instanceof AuthorizationError) {
    if (error.redirectTo) return Response.redirect(error.redirectTo, 302);
    return errorPage(400, error.description);
  }
  if (error instanceof CimdFetchError) {
    return errorPage(400, 'The app’s client metadata document could not be fetched or is not valid.');
  }
  throw error;
}

/** GET /authorize: check the request and ask the person whether this app may use this server. */
export async function showConsent(request: Request, env: SignInEnv, settings: Settings): Promise<Response> {
  const url = new URL(request.url);
  const refused = refusedClientId(url.searchParams.get('client_id'), settings);
  if (refused !== undefined) return errorPage(400, `Refused: ${refused}.`);
  const oauth = await helpersFor(settings, env, url);
  if (oauth instanceof Response) return oauth;
  try {
    const authRequest = await oauth.parseAuthRequest(request);
    if (!authRequest.codeChallenge) {
      const description = 'PKCE with S256 is required';
      return Response.redirect(authorizationErrorRedirect(authRequest, 'invalid_request', description), 302);
    }
    const details = await oauth.describeConsent(authRequest);
    const consent = await oauth.beginConsent(authRequest);
    const server = serverOfResource(url.origin, authRequest.resource) ?? '';
    // The portal is named for the person as what it is: every server they may use.
    return consentPage(
      details,
      server === portalServer ? 'all your MCP servers (the portal)' : server,
      consent,
    );
  } catch (error) {
    return answerError(error);
  }
}

/** POST /authorize: the person's answer; on Allow, on to the organisation's identity provider. */
export async function answerConsent(
  request: Request,
  env: SignInEnv,
  settings: SignInSettings,
): Promise<Response> {
  const url = new URL(request.url);
  const oauth = await helpers(settings, env, url.origin);
  if (oauth instanceof Response) return oauth;
  const form = await consentForm(request);
  if (form === undefined)
    return errorPage(400, 'That was not the consent form. Start signing in again from your app.');
  const handle = String(form.get('handle') ?? '');
  try {
    if (form.get('decision') !== 'allow') {
      const denied = await oauth.denyConsent(request, handle);
      return new Response(null, { status: 302, headers: denied.headers });
    }
    const idp = await reachIdentityProvider(settings);
    if (idp === undefined) return unreachable();
    const approved = await oauth.approveConsent(request, handle);
    const data: Upstream = { verifier: idp.newSecret(), nonce: idp.newSecret() };
    const { state, headers } = await oauth.beginUpstream(approved.request, {
      data,
      headers: approved.headers,
    });
    headers.set('location', await idp.authorizationUrl(callbackUrl(url), state, data));
    return new Response(null, { status: 302, headers });
  } catch (error) {
    return answerError(error);
  }
}

async function consentForm(request: Request): Promise<FormData | undefined> {
  if (!formSizeAllowed(request)) return undefined;
  try {
    return await request.formData();
  } catch {
    return undefined;
  }
}

/** The provider's discovery document, or undefined (logged) when it cannot be had. */
async function reachIdentityProvider(settings: SignInSettings): Promise<IdentityProvider | undefined> {
  try {
    return await identityProvider(settings);
  } catch (error) {
    console.log(
      JSON.stringify({ event: 'sign_in.provider_unreachable', detail: String(error).slice(0, 300) }),
    );
    return undefined;
  }
}

function unreachable(): Response {
  return errorPage(502, 'Your organisation’s identity provider cannot be reached. Try again in a minute.');
}

function callbackUrl(url: URL): string {
  return `${url.origin}${oauthPaths.callback}`;
}

/** GET /oauth/callback: the identity provider sent the person back; issue the client's code. */
export async function finishSignIn(
  request: Request,
  env: SignInEnv,
  settings: SignInSettings,
): Promise<Response> {
  const url = new URL(request.url);
  const oauth = await helpers(settings, env, url.origin);
  if (oauth instanceof Response) return oauth;
  let resumed: { request: AuthRequest; data: Upstream; headers: Headers };
  try {
    resumed = await oauth.finishUpstream<Upstream>(request);
  } catch (error) {
    return answerError(error);
  }
  const redirect = (location: string) => {
    resumed.headers.set('location', location);
    return new Response(null, { status: 302, headers: resumed.headers });
  };
  if (url.searchParams.has('error')) {
    return redirect(authorizationErrorRedirect(resumed.request, 'access_denied', 'sign-in was declined'));
  }
  const idp = await reachIdentityProvider(settings);
  if (idp === undefined) return unreachable();
  const person = await signedIn(idp, url, resumed.data);
  if (typeof person === 'string') {
    console.log(JSON.stringify({ event: 'sign_in.failed', detail: person.slice(0, 300) }));
    return errorPage(502, 'Signing in at your organisation’s identity provider failed. Try again.');
  }
  const server = serverOfResource(url.origin, resumed.request.resource) ?? '';
  const refused = await admit(env, settings, person, server);
  if (refused !== undefined) {
    console.log(JSON.stringify({ event: 'sign_in.refused', principal: person.principal, server, refused }));
    return redirect(authorizationErrorRedirect(resumed.request, 'access_denied', refused));
  }
  const userId = oauthUserId(person.principal);
  const { redirectTo } = await oauth.completeAuthorization({
    request: resumed.request,
    userId,
    metadata: { principal: person.principal, server },
    scope: resumed.request.scope,
    props: { principal: person.principal },
  });
  console.log(JSON.stringify({ event: 'sign_in.granted', principal: person.principal, server }));
  return redirect(redirectTo);
}

/**
 * Records the person's groups from this sign-in, and says why they may not have a grant for
 * this server: revoked by an admin, or not admitted by its document (rather than a token that
 * every request would then refuse).
 */
async function admit(
  env: SignInEnv,
  settings: Settings,
  person: { principal: string; groups: string[] },
  server: string,
): Promise<string | undefined> {
  const known = await loadPrincipal(env.GATEWAY_KV, person.principal);
  if (known?.revoked) return 'access revoked by an admin';
  const record = {
    principal: person.principal,
    userId: oauthUserId(person.principal),
    groups: person.groups,
    removedGroups: known?.removedGroups ?? [],
    revoked: false,
    signedInAt: new Date().toISOString(),
  };
  await savePrincipal(env.GATEWAY_KV, record);
  const principal = { subject: person.principal, groups: effectiveGroups(record), method: 'oauth' as const };
  if (server === portalServer) {
    // The portal admits whoever one of its members admits.
    const members = await membersFor(env.GATEWAY_KV, settings, principal);
    return members.size > 0 ? undefined : `${person.principal} may use no MCP server here`;
  }
  const loaded = await loadDocument(env.GATEWAY_KV, server, settings.DOCUMENT_CACHE_SECONDS);
  if (!loaded.ok) return `the MCP server "${server}" is not available`;
  return mayConnect(loaded.document, principal) ? undefined : `${person.principal} may not use "${server}"`;
}

async function signedIn(
  idp: IdentityProvider,
  url: URL,
  data: Upstream,
): Promise<{ principal: string; groups: string[] } | string> {
  try {
    return await idp.person(url, callbackUrl(url), data);
  } catch (error) {
    return String(error);
  }
}
