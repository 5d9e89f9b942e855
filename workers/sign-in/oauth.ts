import { OAuthAuthorizationServer, type OAuthHelpers } from '@cloudflare/workers-oauth-provider';
import { loadDocument, serverNames } from '../documents.ts';
import type { PreRegisteredClient, Settings } from '../env.ts';

/** The Worker's own OAuth endpoints (docs/auth.md); the library serves metadata, token and register. */
export const oauthPaths = {
  authorize: '/authorize',
  callback: '/oauth/callback',
  token: '/oauth/token',
  register: '/oauth/register',
} as const;

export interface OAuthEnv {
  OAUTH_KV: KVNamespace;
}

const refreshTokenSeconds = 30 * 24 * 3600;
const built = new Map<string, OAuthAuthorizationServer<OAuthEnv>>();

/**
 * The unnamed portal's name in the sign-in (docs/portals.md): no document is named so, and its
 * resource is `<origin>/mcp`, which `serverOfResource` reads back as this.
 */
export const portalServer = '';

/** The MCP resource of one server: its endpoint URL, the audience of tokens issued for it. */
export function resourceOf(origin: string, server: string): string {
  return server === portalServer ? `${origin}/mcp` : `${origin}/${server}/mcp`;
}

export function serverOfResource(origin: string, resource: string | undefined): string | undefined {
  const prefix = `${origin}/`;
  if (resource === undefined || !resource.startsWith(prefix) || !resource.endsWith('/mcp')) return undefined;
  return resource.slice(prefix.length, -'/mcp'.length);
}

/**
 * Each server that needs a credential has its own issuer, its endpoint URL: clients that look
 * for sign-in under a server's path (RFC 8414 path-aware discovery, as Codex does) find it for
 * exactly those servers, and nothing at the origin's root sends an open server's clients
 * into a sign-in they do not need (docs/auth.md).
 */
export function issuerOf(origin: string, server: string): string {
  return resourceOf(origin, server);
}

/**
 * The authorization server for these resources. The library fixes its resource registry at
 * construction, and servers come and go with documents, so there is one per registry.
 */
export function authorizationServer(
  settings: Settings,
  origin: string,
  resources: readonly string[],
  issuer = origin,
): OAuthAuthorizationServer<OAuthEnv> {
  const key = `${issuer}\n${origin}\n${resources.join('\n')}`;
  let server = built.get(key);
  if (server === undefined) {
    if (built.size >= 64) built.clear();
    server = new OAuthAuthorizationServer<OAuthEnv>({
      issuer,
      resources,
      authorizeEndpoint: `${origin}${oauthPaths.authorize}`,
      tokenEndpoint: `${origin}${oauthPaths.token}`,
      ...(settings.OAUTH_DYNAMIC_REGISTRATION
        ? { clientRegistrationEndpoint: `${origin}${oauthPaths.register}` }
        : {}),
      clientIdMetadataDocumentEnabled: settings.OAUTH_CLIENT_METADATA_DOCUMENTS,
      accessTokenTTL: settings.OAUTH_ACCESS_TOKEN_SECONDS,
      refreshTokenTTL: refreshTokenSeconds,
      onError: ({ code, internal, status }) => {
        console.log(
          JSON.stringify({ event: 'oauth.refused', code, status, reason: internalReason(internal) }),
        );
      },
    });
    built.set(key, server);
  }
  return server;
}

function internalReason(internal: unknown): string {
  if (typeof internal !== 'object' || internal === null) return '';
  const reason = (internal as { reason?: unknown }).reason;
  return typeof reason === 'string' ? reason : '';
}

/** Whether a server needs a credential, so that sign-in is offered for it: not an open one. */
export async function needsCredential(
  kv: KVNamespace,
  server: string,
  cacheSeconds: number,
): Promise<boolean> {
  // The portal at /mcp serves no one without a credential: only its members decide who else.
  if (server === portalServer) return true;
  const loaded = await loadDocument(kv, server, cacheSeconds);
  return loaded.ok && !loaded.document.access.anonymous;
}

/** One server's own authorization server: its metadata, and the issuer of its sign-ins. */
export function authorizationServerOf(
  settings: Settings,
  origin: string,
  server: string,
): OAuthAuthorizationServer<OAuthEnv> {
  return authorizationServer(settings, origin, [resourceOf(origin, server)], issuerOf(origin, server));
}

/** The authorization server for every current server, or undefined when there is none yet. */
export async function authorizationServerForAll(
  settings: Settings,
  env: { GATEWAY_KV: KVNamespace },
  origin: string,
): Promise<OAuthAuthorizationServer<OAuthEnv> | undefined> {
  const names = await serverNames(env.GATEWAY_KV, settings.DOCUMENT_CACHE_SECONDS);
  if (names.length === 0) return undefined;
  return authorizationServer(
    settings,
    origin,
    [...names, portalServer].map((name) => resourceOf(origin, name)),
  );
}

const ensured = new WeakSet<Settings>();

/**
 * Pre-registered clients (OAUTH_CLIENTS) in the library's client record format
 * (its storage-schema.md), written once per isolate when missing or changed: the library's
 * own createClient always picks a random client id, and admins need a stable one.
 */
export async function ensurePreRegisteredClients(settings: Settings, env: OAuthEnv): Promise<void> {
  if (ensured.has(settings)) return;
  await Promise.all(settings.OAUTH_CLIENTS.map((client) => ensureClient(env.OAUTH_KV, client)));
  ensured.add(settings);
}

async function ensureClient(kv: KVNamespace, client: PreRegisteredClient): Promise<void> {
  const key = `client:${client.client_id}`;
  const stored = await kv.get<{ clientName?: string; redirectUris?: string[] }>(key, 'json');
  const same =
    stored?.clientName === client.client_name &&
    JSON.stringify(stored.redirectUris) === JSON.stringify(client.redirect_uris);
  if (same) return;
  await kv.put(
    key,
    JSON.stringify({
      clientId: client.client_id,
      clientName: client.client_name,
      redirectUris: client.redirect_uris,
      grantTypes: ['authorization_code', 'refresh_token'],
      responseTypes: ['code'],
      registrationDate: Math.floor(Date.now() / 1000),
      tokenEndpointAuthMethod: 'none',
      authMethodExplicit: true,
    }),
  );
}

export type { OAuthHelpers };
