import * as oidc from 'oauth4webapi';
import { z } from 'zod';
import type { PerUserOAuth } from '../../shared/policy/document.ts';
import { mayConnect } from '../../shared/policy/policy.ts';
import { seal, sealingKey, unseal } from '../../shared/security/sealing.ts';
import { loadDocument } from '../documents.ts';
import type { ConnectSettings, Env, Settings } from '../env.ts';
import { html, htmlPage } from '../sign-in/consent.ts';
import { formSizeAllowed } from '../sign-in/endpoints.ts';
import { identityProvider } from '../sign-in/identity-provider.ts';
import { loadPrincipal } from '../sign-in/principals.ts';
import { describe } from './connected.ts';
import { type ConnectionStore, connectionStore } from './connections.ts';
import { authorizationUrl, connect, revoke, UnconfiguredError } from './upstream-oauth.ts';

/**
 * Where a person connects their own account for a `per-user-oauth` server (docs/upstream-identity.md).
 * The browser first signs in at the organisation's identity provider, so that the account is
 * linked to whoever the gateway knows the browser's person to be, never to whoever sent the
 * link. Then the gateway asks, and on Connect sends the browser to the server's authorization
 * server (code grant, PKCE); the tokens it gets back are sealed in KV under that person. Each
 * step's secrets live in one sealed, short-lived cookie of this browser: a callback that did
 * not start here, or whose `state` differs, is refused.
 */
export const connectPaths = { callback: '/connect-callback', page: (server: string) => `/connect/${server}` };

const cookieName = '__Host-mcpgw-connect';
const stepSeconds = 600;

const StepSchema = z.discriminatedUnion('stage', [
  z.object({
    stage: z.literal('sign-in'),
    server: z.string(),
    state: z.string(),
    verifier: z.string(),
    nonce: z.string(),
    until: z.number(),
  }),
  z.object({
    stage: z.literal('consent'),
    server: z.string(),
    principal: z.string(),
    handle: z.string(),
    until: z.number(),
  }),
  z.object({
    stage: z.literal('authorize'),
    server: z.string(),
    principal: z.string(),
    state: z.string(),
    verifier: z.string(),
    until: z.number(),
  }),
]);

type Step = z.output<typeof StepSchema>;
type NewStep = Step extends infer S ? (S extends Step ? Omit<S, 'until'> : never) : never;

const cookieKey = (settings: ConnectSettings) => sealingKey(settings.UPSTREAM_TOKEN_KEY, 'connect-cookie');

async function stepCookie(settings: ConnectSettings, step: NewStep): Promise<string> {
  const value = await seal(
    await cookieKey(settings),
    JSON.stringify({ ...step, until: Date.now() + stepSeconds * 1000 }),
    cookieName,
  );
  return `${cookieName}=${value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${stepSeconds}`;
}

const clearCookie = `${cookieName}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`;

async function stepOf(request: Request, settings: ConnectSettings): Promise<Step | undefined> {
  const cookies = request.headers.get('cookie') ?? '';
  const value = cookies
    .split(';')
    .map((part) => part.trim())
    .find((part) => part.startsWith(`${cookieName}=`))
    ?.slice(cookieName.length + 1);
  if (value === undefined || value === '') return undefined;
  const text = await unseal(await cookieKey(settings), value, cookieName);
  if (text === undefined) return undefined;
  const parsed = StepSchema.safeParse(JSON.parse(text));
  return parsed.success && parsed.data.until > Date.now() ? parsed.data : undefined;
}

function stopped(status: number, message: string, headers: HeadersInit = {}): Response {
  return htmlPage(status, 'Connecting stopped', `<p data-error>${html(message)}</p>`, headers);
}

function redirect(location: string, cookie: string): Response {
  return new Response(null, {
    status: 302,
    headers: { location, 'set-cookie': cookie, 'cache-control': 'no-store' },
  });
}

const startAgain =
  'This browser did not start connecting this account, or took too long. Open the link from your app again.';

/** The server's per-user-oauth settings, or the page that says why it has none. */
async function configOf(env: Env, settings: Settings, server: string): Promise<PerUserOAuth | Response> {
  const loaded = await loadDocument(env.GATEWAY_KV, server, settings.DOCUMENT_CACHE_SECONDS);
  if (!loaded.ok || loaded.document.identity.mode !== 'per-user-oauth') {
    return stopped(404, `"${server}" is not an MCP server here that connects each person's own account.`);
  }
  return loaded.document.identity;
}

async function reach<T>(what: string, server: string, work: () => Promise<T>): Promise<T | Response> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof UnconfiguredError) {
      console.error(JSON.stringify({ event: 'identity.unconfigured', server, fix: error.message }));
      return stopped(
        500,
        'The gateway is misconfigured for this server; its operators have been told in the log.',
      );
    }
    console.error(
      JSON.stringify({ event: 'identity.connect_failed', server, step: what, error: describe(error) }),
    );
    return stopped(502, `${what} failed. Try again in a minute.`);
  }
}

/** GET /connect/<server>: first, who is this browser's person? Sign in at the organisation's provider. */
export async function startConnect(request: Request, env: Env, settings: ConnectSettings, server: string) {
  const config = await configOf(env, settings, server);
  if (config instanceof Response) return config;
  const idp = await reach('Reaching your organisation’s identity provider', server, () =>
    identityProvider(settings),
  );
  if (idp instanceof Response) return idp;
  const step = {
    stage: 'sign-in',
    server,
    state: idp.newSecret(),
    verifier: idp.newSecret(),
    nonce: idp.newSecret(),
  } as const;
  const location = await idp.authorizationUrl(callbackOf(request), step.state, step);
  return redirect(location, await stepCookie(settings, step));
}

function callbackOf(request: Request): string {
  return `${new URL(request.url).origin}${connectPaths.callback}`;
}

/** GET /connect-callback: back from the organisation's provider, or from the server's authorization server. */
export async function connectCallback(
  request: Request,
  env: Env,
  settings: ConnectSettings,
): Promise<Response> {
  const url = new URL(request.url);
  const step = await stepOf(request, settings);
  if (
    step === undefined ||
    step.stage === 'consent' ||
    !same(url.searchParams.get('state') ?? '', step.state)
  ) {
    return stopped(400, startAgain, { 'set-cookie': clearCookie });
  }
  if (url.searchParams.has('error'))
    return stopped(400, 'Connecting was cancelled.', { 'set-cookie': clearCookie });
  const config = await configOf(env, settings, step.server);
  if (config instanceof Response) return config;
  if (step.stage === 'sign-in') return signedIn(request, env, settings, step, config);
  const store = connectionStore(env.GATEWAY_KV, settings.UPSTREAM_TOKEN_KEY);
  const connection = await reach('Connecting your account', step.server, () =>
    connect(config, env, url, callbackOf(request), step),
  );
  if (connection instanceof Response) return connection;
  await store.save(step.server, step.principal, connection);
  console.log(
    JSON.stringify({ event: 'identity.connected', server: step.server, principal: step.principal }),
  );
  const body = `<p data-connected>Your account is connected: <strong>${html(step.server)}</strong> now acts as you (<strong>${html(step.principal)}</strong>). Go back to your app and try again.</p>`;
  return htmlPage(200, 'Connected', body, { 'set-cookie': clearCookie });
}

/** The person signed in: may they use this server? Then ask them. */
async function signedIn(
  request: Request,
  env: Env,
  settings: ConnectSettings,
  step: Extract<Step, { stage: 'sign-in' }>,
  config: PerUserOAuth,
): Promise<Response> {
  const idp = await reach('Reaching your organisation’s identity provider', step.server, () =>
    identityProvider(settings),
  );
  if (idp instanceof Response) return idp;
  const person = await reach('Signing in', step.server, () =>
    idp.person(new URL(request.url), callbackOf(request), step),
  );
  if (person instanceof Response) return person;
  const refused = await refusal(env, settings, step.server, person);
  if (refused !== undefined) return stopped(403, refused, { 'set-cookie': clearCookie });
  const handle = idp.newSecret();
  const cookie = await stepCookie(settings, {
    stage: 'consent',
    server: step.server,
    principal: person.principal,
    handle,
  });
  const store = connectionStore(env.GATEWAY_KV, settings.UPSTREAM_TOKEN_KEY);
  return consentPage(
    step.server,
    person.principal,
    config,
    await store.load(step.server, person.principal),
    handle,
    cookie,
  );
}

async function refusal(
  env: Env,
  settings: Settings,
  server: string,
  person: { principal: string; groups: string[] },
): Promise<string | undefined> {
  const known = await loadPrincipal(env.GATEWAY_KV, person.principal);
  if (known?.revoked) return 'Your access was revoked by an admin.';
  const loaded = await loadDocument(env.GATEWAY_KV, server, settings.DOCUMENT_CACHE_SECONDS);
  const principal = { subject: person.principal, groups: person.groups, method: 'oauth' as const };
  if (!loaded.ok || !mayConnect(loaded.document, principal))
    return `${person.principal} may not use "${server}".`;
  return undefined;
}

function consentPage(
  server: string,
  principal: string,
  config: PerUserOAuth,
  existing: { connectedAt: string } | undefined,
  handle: string,
  cookie: string,
): Response {
  const host = new URL(config.issuer).host;
  const now =
    existing === undefined
      ? ''
      : `<p data-existing>You connected an account on ${html(existing.connectedAt.slice(0, 10))}. Connecting again replaces it.</p>`;
  const disconnect =
    existing === undefined ? '' : '<button name="decision" value="disconnect">Disconnect</button>';
  const body = `<p>You are signed in as <strong data-principal>${html(principal)}</strong>.</p>
<p>Connect your account at <strong data-authorization-server>${html(host)}</strong> so that the MCP server <strong>${html(server)}</strong> acts as you there when you call its tools through this gateway. Next, <strong>${html(host)}</strong> asks you to sign in and allow it.</p>
${now}
<form method="post" action="${html(connectPaths.page(server))}">
<input type="hidden" name="handle" value="${html(handle)}">
<button name="decision" value="connect">Connect</button>${disconnect}<button name="decision" value="cancel">Cancel</button>
</form>`;
  return htmlPage(200, `Connect your ${server} account?`, body, { 'set-cookie': cookie });
}

/** POST /connect/<server>: the person's answer on the page above. */
export async function answerConnect(request: Request, env: Env, settings: ConnectSettings, server: string) {
  const step = await stepOf(request, settings);
  const form = formSizeAllowed(request) ? await request.formData().catch(() => undefined) : undefined;
  const handle = form?.get('handle');
  if (
    step?.stage !== 'consent' ||
    step.server !== server ||
    typeof handle !== 'string' ||
    !same(handle, step.handle)
  ) {
    return stopped(400, startAgain, { 'set-cookie': clearCookie });
  }
  const config = await configOf(env, settings, server);
  if (config instanceof Response) return config;
  const decision = form?.get('decision');
  if (decision === 'disconnect') return disconnect(env, settings, config, step);
  if (decision !== 'connect') return stopped(200, 'Nothing was changed.', { 'set-cookie': clearCookie });
  const next = {
    stage: 'authorize',
    server,
    principal: step.principal,
    state: oidc.generateRandomState(),
    verifier: oidc.generateRandomCodeVerifier(),
  } as const;
  const location = await reach('Reaching the authorization server', server, () =>
    authorizationUrl(config, callbackOf(request), next.state, next.verifier),
  );
  if (location instanceof Response) return location;
  return redirect(location, await stepCookie(settings, next));
}

async function disconnect(
  env: Env,
  settings: ConnectSettings,
  config: PerUserOAuth,
  step: { server: string; principal: string },
): Promise<Response> {
  const store: ConnectionStore = connectionStore(env.GATEWAY_KV, settings.UPSTREAM_TOKEN_KEY);
  const connection = await store.load(step.server, step.principal);
  await store.remove(step.server, step.principal);
  // Removed here first: whatever the authorization server says, the gateway no longer uses it.
  let revoked = false;
  if (connection !== undefined) {
    const answer = await reach('Revoking at the authorization server', step.server, () =>
      revoke(config, env, connection),
    );
    revoked = answer === true;
  }
  console.log(
    JSON.stringify({
      event: 'identity.disconnected',
      server: step.server,
      principal: step.principal,
      revoked,
    }),
  );
  const body = `<p data-disconnected>Your account is disconnected from <strong>${html(step.server)}</strong>${revoked ? ', and its tokens were revoked at the authorization server' : ''}.</p>`;
  return htmlPage(200, 'Disconnected', body, { 'set-cookie': clearCookie });
}

/** Equal strings, compared in time that does not depend on where they differ. */
function same(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let differ = 0;
  for (let i = 0; i < a.length; i++) differ |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return differ === 0;
}
