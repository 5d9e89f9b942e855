import { AutoRouter, type IRequest } from 'itty-router';
import type { Principal } from '../shared/policy/policy.ts';
import { portalPath } from '../shared/portal/names.ts';
import { refusalResponse as refusalOf, toWire } from '../shared/protocol/refusal.ts';
import { authenticate, credentialRefusal } from './auth.ts';
import {
  type ConnectSettings,
  connectSettings,
  type Env,
  type Settings,
  settingsOf,
  signsIn,
} from './env.ts';
import { publishedKeys } from './identity/assertion.ts';
import { answerConnect, connectCallback, connectPaths, startConnect } from './identity/connect.ts';
import { admit } from './mcp/admit.ts';
import { handleMcp } from './mcp/handle.ts';
import { membersFor } from './mcp/members.ts';
import { admitPortal } from './mcp/portal.ts';
import { getServer, listServers } from './registry/catalog.ts';
import { page, pageScript } from './registry/page.ts';
import { protocolEndpoint, serverMetadata } from './sign-in/endpoints.ts';
import { answerConsent, finishSignIn, showConsent } from './sign-in/flow.ts';
import { issuerOf, needsCredential, oauthPaths, portalServer, resourceOf } from './sign-in/oauth.ts';

const serverName = /^[a-z0-9][a-z0-9-]{0,62}$/;

const registryCors = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, OPTIONS',
  'access-control-allow-headers': 'Authorization, Content-Type',
};

const mcpCorsHeaders = {
  'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
  'access-control-allow-headers':
    'Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID',
  'access-control-expose-headers': 'Mcp-Session-Id, WWW-Authenticate',
  'access-control-max-age': '600',
  vary: 'Origin',
};

function withHeaders(response: Response, headers: Record<string, string>): Response {
  const copy = new Response(response.body, response);
  for (const [name, value] of Object.entries(headers)) copy.headers.set(name, value);
  return copy;
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

function configured(env: Env): Settings | Response {
  const result = settingsOf(env);
  if (result.ok) return result.settings;
  console.error(JSON.stringify({ event: 'gateway.misconfigured', problems: result.problems }));
  return refusalOf({ kind: 'gateway_misconfigured' });
}

const router = AutoRouter<IRequest, [Env, ExecutionContext]>({
  catch: (error: unknown) => {
    console.error(JSON.stringify({ event: 'gateway.error', error: String(error).slice(0, 300) }));
    return refusalOf({ kind: 'internal_error' });
  },
  missing: () => refusalOf({ kind: 'not_found' }),
});

router.get('/healthz', () => json({ status: 'alive' }));

/** The keys of the edge's assertions, which the organisation's identity provider trusts (docs/upstream-identity.md). */
router.get('/.well-known/jwks.json', (_request, env) => {
  const settings = configured(env);
  if (settings instanceof Response) return settings;
  const keys = settings.ASSERTION_SIGNING_KEY;
  if (keys === undefined) return refusalOf({ kind: 'not_found' });
  return json(publishedKeys(keys), 200, { 'cache-control': 'public, max-age=300' });
});
router.get('/', page);
router.get('/page.js', pageScript);

/** Sign-in is offered only for a server that needs a credential, and for the portal (docs/auth.md). */
router.get('/.well-known/oauth-protected-resource/mcp', (request, env) =>
  resourceMetadata(request, env, portalServer),
);
router.get('/.well-known/oauth-protected-resource/:server/mcp', (request, env) => {
  const server = request.params.server ?? '';
  if (!serverName.test(server)) return refusalOf({ kind: 'not_found' });
  return resourceMetadata(request, env, server);
});

async function resourceMetadata(request: IRequest, env: Env, server: string): Promise<Response> {
  const url = new URL(request.url);
  const settings = configured(env);
  if (settings instanceof Response) return settings;
  const offered =
    signsIn(settings) && (await needsCredential(env.GATEWAY_KV, server, settings.DOCUMENT_CACHE_SECONDS));
  return json(
    {
      resource: resourceOf(url.origin, server),
      ...(offered ? { authorization_servers: [issuerOf(url.origin, server)] } : {}),
      bearer_methods_supported: ['header'],
      resource_name: server === portalServer ? 'portal' : server,
    },
    200,
    registryCors,
  );
}

function hasOAuthStore(env: Env): env is Env & { OAUTH_KV: KVNamespace } {
  return env.OAUTH_KV !== undefined;
}

/** OAuth sign-in (docs/auth.md): only when SIGN_IN_ISSUER is set, else these paths do not exist. */
function signingIn(env: Env):
  | {
      settings: Settings & { SIGN_IN_ISSUER: string; SIGN_IN_CLIENT_ID: string };
      env: Env & { OAUTH_KV: KVNamespace };
    }
  | Response {
  const settings = configured(env);
  if (settings instanceof Response) return settings;
  if (!signsIn(settings) || !hasOAuthStore(env)) return refusalOf({ kind: 'not_found' });
  return { settings, env };
}

/** Connecting a person's own account for a per-user-oauth server: needs sign-in and UPSTREAM_TOKEN_KEY. */
function connecting(env: Env): ConnectSettings | Response {
  const settings = configured(env);
  if (settings instanceof Response) return settings;
  const connect = connectSettings(settings);
  return 'fix' in connect ? refusalOf({ kind: 'not_found' }) : connect;
}

router.get(connectPaths.callback, (request, env) => {
  const settings = connecting(env);
  return settings instanceof Response ? settings : connectCallback(request, env, settings);
});
/** The connect page of one server: shown (GET) and answered (POST). */
function connectPage(handler: typeof startConnect) {
  return (request: IRequest, env: Env) => {
    const settings = connecting(env);
    if (settings instanceof Response) return settings;
    const server = request.params.server ?? '';
    if (!serverName.test(server)) return refusalOf({ kind: 'not_found' });
    return handler(request, env, settings, server);
  };
}
router.get(connectPaths.page(':server'), connectPage(startConnect));
router.post(connectPaths.page(':server'), connectPage(answerConnect));

router.get(oauthPaths.authorize, (request, env) => {
  const on = signingIn(env);
  return on instanceof Response ? on : showConsent(request, on.env, on.settings);
});
router.post(oauthPaths.authorize, (request, env) => {
  const on = signingIn(env);
  return on instanceof Response ? on : answerConsent(request, on.env, on.settings);
});
router.get(oauthPaths.callback, (request, env) => {
  const on = signingIn(env);
  return on instanceof Response ? on : finishSignIn(request, on.env, on.settings);
});
router.get('/.well-known/oauth-authorization-server/mcp', (request, env, ctx) =>
  issuerMetadata(request, env, ctx, portalServer),
);
router.get('/.well-known/oauth-authorization-server/:server/mcp', (request, env, ctx) => {
  const server = request.params.server ?? '';
  if (!serverName.test(server)) return refusalOf({ kind: 'not_found' });
  return issuerMetadata(request, env, ctx, server);
});

async function issuerMetadata(request: IRequest, env: Env, ctx: ExecutionContext, server: string) {
  const on = signingIn(env);
  if (on instanceof Response) return on;
  return (
    (await serverMetadata(request, on.env, on.settings, server, ctx)) ?? refusalOf({ kind: 'not_found' })
  );
}
for (const path of [oauthPaths.token, oauthPaths.register]) {
  router.all(path, (request, env, ctx) => {
    const on = signingIn(env);
    return on instanceof Response ? on : protocolEndpoint(request, on.env, on.settings, ctx);
  });
}

/**
 * Who reads the registry: anonymous is allowed (VS Code probes without credentials), a bad
 * credential is still refused. A Response when the request ends here.
 */
async function registryReader(
  request: IRequest,
  env: Env,
): Promise<{ settings: Settings; principal: Principal } | Response> {
  const settings = configured(env);
  if (settings instanceof Response) return settings;
  const url = new URL(request.url);
  const auth = await authenticate(
    request.headers.get('authorization'),
    env,
    settings,
    `${url.origin}/v0.1/servers`,
  );
  if (!auth.ok) {
    const refused = toWire(
      credentialRefusal(auth.reason, `${url.origin}/.well-known/oauth-protected-resource`),
    );
    return json({ error: refused.body.error.message }, refused.status, registryCors);
  }
  return { settings, principal: auth.principal };
}

router.options('/v0.1/*', () => new Response(null, { status: 204, headers: registryCors }));

router.get('/v0.1/servers', async (request, env) => {
  const reader = await registryReader(request, env);
  if (reader instanceof Response) return reader;
  const url = new URL(request.url);
  const limit = Math.min(100, Math.max(1, Number(url.searchParams.get('limit') ?? 30) || 30));
  const cursor = url.searchParams.get('cursor') ?? undefined;
  const page = await listServers(env.GATEWAY_KV, reader.principal, url, {
    limit,
    cursor,
    cacheSeconds: reader.settings.DOCUMENT_CACHE_SECONDS,
    portal: await membersFor(env.GATEWAY_KV, reader.settings, reader.principal),
  });
  return json(page, 200, registryCors);
});

router.get('/v0.1/servers/:name/versions/:version', async (request, env) => {
  const reader = await registryReader(request, env);
  if (reader instanceof Response) return reader;
  const url = new URL(request.url);
  const full = decodeURIComponent(request.params.name ?? '');
  const name = full.split('/').at(-1) ?? '';
  const found = serverName.test(name)
    ? await getServer(env.GATEWAY_KV, reader.principal, url, name, reader.settings.DOCUMENT_CACHE_SECONDS)
    : undefined;
  const version = request.params.version;
  if (!found || (version !== 'latest' && version !== found.server.version)) {
    return json({ error: `no server "${full}" at version "${version}" for you` }, 404, registryCors);
  }
  return json(found, 200, registryCors);
});

router.all(portalPath, (request, env, ctx) => serveMcp(request, env, ctx, 'portal', admitPortal));

router.all('/:server/mcp', (request, env, ctx) => {
  const server = request.params.server ?? '';
  if (!serverName.test(server)) return refusalOf({ kind: 'not_found' });
  return serveMcp(request, env, ctx, server, admit);
});

/** An MCP URL, a server's or the portal's: CORS for listed browser origins, then the pipeline. */
function serveMcp(
  request: IRequest,
  env: Env,
  ctx: ExecutionContext,
  server: string,
  admitted: typeof admit,
): Response | Promise<Response> {
  const settings = configured(env);
  if (settings instanceof Response) return settings;
  const origin = request.headers.get('origin');
  const cors =
    origin !== null && settings.ALLOWED_ORIGINS.includes(origin)
      ? { ...mcpCorsHeaders, 'access-control-allow-origin': origin }
      : undefined;
  if (request.method === 'OPTIONS') {
    return cors
      ? new Response(null, { status: 204, headers: cors })
      : refusalOf({ kind: 'forbidden_origin' });
  }
  if (!['GET', 'POST', 'DELETE'].includes(request.method)) {
    return refusalOf({ kind: 'method_not_allowed', allow: 'GET, POST, DELETE' });
  }
  return handleMcp({ request, env, ctx, settings, server }, admitted).then((r) =>
    cors ? withHeaders(r, cors) : r,
  );
}

export { Approvals } from './approval/approvals.ts';
export { QuotaCounter } from './quota/counter.ts';

export default { fetch: router.fetch } satisfies ExportedHandler<Env>;
