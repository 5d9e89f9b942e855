import * as oidc from 'oauth4webapi';
import type { PerUserOAuth } from '../../shared/policy/document.ts';
import { discover, requestOptions } from '../sign-in/identity-provider.ts';

/**
 * The gateway as an OAuth client of a `per-user-oauth` server's authorization server (a SaaS's,
 * such as GitHub's): the authorization code grant with PKCE when a person connects their
 * account, the refresh grant when a token is used near its expiry, and revocation (RFC 7009)
 * when they disconnect. Confidential clients authenticate with `client_secret_post`.
 */

/** A person's tokens at one authorization server, as the edge keeps them (sealed). */
export interface Connection {
  accessToken: string;
  refreshToken?: string;
  /** Milliseconds since the epoch; absent: the server gave no expiry. */
  expiresAt?: number;
  /** When a use renews it first: a minute before it expires, or half-way for a shorter life. */
  renewAt?: number;
  scope?: string;
  connectedAt: string;
}

/** The document names a Worker secret that is not set: the operator's to fix, not the person's. */
export class UnconfiguredError extends Error {}

async function serverOf(config: PerUserOAuth): Promise<oidc.AuthorizationServer> {
  const revocation =
    config.revocationEndpoint === undefined ? {} : { revocation_endpoint: config.revocationEndpoint };
  if (config.authorizationEndpoint !== undefined && config.tokenEndpoint !== undefined) {
    return {
      issuer: config.issuer,
      authorization_endpoint: config.authorizationEndpoint,
      token_endpoint: config.tokenEndpoint,
      ...revocation,
    };
  }
  const issuer = new URL(config.issuer);
  // Most servers publish OpenID metadata; an OAuth-only one publishes RFC 8414's.
  const as = await discover(issuer, 'oidc').catch(() => discover(issuer, 'oauth2'));
  return { ...as, ...revocation };
}

function clientOf(config: PerUserOAuth, env: object): { client: oidc.Client; auth: oidc.ClientAuth } {
  const client: oidc.Client = { client_id: config.clientId };
  if (config.clientSecretEnv === undefined) return { client, auth: oidc.None() };
  const secret = (env as Record<string, unknown>)[config.clientSecretEnv];
  if (typeof secret !== 'string' || secret === '') {
    throw new UnconfiguredError(`set the Worker secret ${config.clientSecretEnv} (wrangler secret put)`);
  }
  return { client, auth: oidc.ClientSecretPost(secret) };
}

function options(config: PerUserOAuth) {
  const additionalParameters: Record<string, string> = {};
  if (config.resource !== undefined) additionalParameters.resource = config.resource;
  return { ...requestOptions(new URL(config.issuer)), additionalParameters };
}

/** Where the person's browser goes to connect their account. */
export async function authorizationUrl(
  config: PerUserOAuth,
  redirectUri: string,
  state: string,
  verifier: string,
): Promise<string> {
  const as = await serverOf(config);
  if (as.authorization_endpoint === undefined)
    throw new Error('the authorization server names no authorization endpoint');
  const url = new URL(as.authorization_endpoint);
  const params: Record<string, string> = {
    client_id: config.clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  };
  if (config.scopes.length > 0) params.scope = config.scopes.join(' ');
  if (config.resource !== undefined) params.resource = config.resource;
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.href;
}

function connectionOf(tokens: oidc.TokenEndpointResponse, earlier?: Connection): Connection {
  return {
    accessToken: tokens.access_token,
    // A server that does not rotate refresh tokens returns none on refresh: the earlier one stays.
    ...((tokens.refresh_token ?? earlier?.refreshToken)
      ? { refreshToken: tokens.refresh_token ?? earlier?.refreshToken }
      : {}),
    ...lifeOf(tokens.expires_in),
    ...((tokens.scope ?? earlier?.scope) ? { scope: tokens.scope ?? earlier?.scope } : {}),
    connectedAt: earlier?.connectedAt ?? new Date().toISOString(),
  };
}

function lifeOf(seconds: number | undefined): Pick<Connection, 'expiresAt' | 'renewAt'> {
  if (seconds === undefined) return {};
  const now = Date.now();
  return { expiresAt: now + seconds * 1000, renewAt: now + Math.max(seconds - 60, seconds / 2) * 1000 };
}

/** The person came back from the authorization server: their code, traded for their tokens. */
export async function connect(
  config: PerUserOAuth,
  env: object,
  callback: URL,
  redirectUri: string,
  secrets: { state: string; verifier: string },
): Promise<Connection> {
  const as = await serverOf(config);
  const { client, auth } = clientOf(config, env);
  const params = oidc.validateAuthResponse(as, client, callback, secrets.state);
  const response = await oidc.authorizationCodeGrantRequest(
    as,
    client,
    auth,
    params,
    redirectUri,
    secrets.verifier,
    options(config),
  );
  return connectionOf(await oidc.processAuthorizationCodeResponse(as, client, response));
}

/** Fresh tokens for a connection near its expiry; undefined when the server no longer honours it. */
export async function refresh(
  config: PerUserOAuth,
  env: object,
  earlier: Connection,
): Promise<Connection | undefined> {
  if (earlier.refreshToken === undefined) return undefined;
  const as = await serverOf(config);
  const { client, auth } = clientOf(config, env);
  try {
    const response = await oidc.refreshTokenGrantRequest(
      as,
      client,
      auth,
      earlier.refreshToken,
      options(config),
    );
    return connectionOf(await oidc.processRefreshTokenResponse(as, client, response), earlier);
  } catch (error) {
    if (error instanceof oidc.ResponseBodyError && error.error === 'invalid_grant') return undefined;
    throw error;
  }
}

/** Tells the authorization server the tokens are no longer wanted, where it offers revocation. */
export async function revoke(config: PerUserOAuth, env: object, connection: Connection): Promise<boolean> {
  const as = await serverOf(config);
  if (as.revocation_endpoint === undefined) return false;
  const { client, auth } = clientOf(config, env);
  const token = connection.refreshToken ?? connection.accessToken;
  const response = await oidc.revocationRequest(
    as,
    client,
    auth,
    token,
    requestOptions(new URL(config.issuer)),
  );
  await oidc.processRevocationResponse(response);
  return true;
}
