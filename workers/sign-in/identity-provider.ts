import * as oidc from 'oauth4webapi';
import type { Settings } from '../env.ts';

type SignInSettings = Settings & { SIGN_IN_ISSUER: string; SIGN_IN_CLIENT_ID: string };

/** The organisation's OpenID provider, where the gateway sends people to sign in. */
export interface IdentityProvider {
  newSecret(): string;
  authorizationUrl(
    redirectUri: string,
    state: string,
    secrets: { verifier: string; nonce: string },
  ): Promise<string>;
  /** The person the provider sent back, or an exception when the exchange or the ID token fails. */
  person(
    callback: URL,
    redirectUri: string,
    secrets: { verifier: string; nonce: string },
  ): Promise<{ principal: string; groups: string[] }>;
}

const discovered = new Map<string, { until: number; as: oidc.AuthorizationServer }>();
const discoverySeconds = 600;

/** Plain http only for an issuer on this machine (tests, `npm start`); anything else needs https. */
export function requestOptions(issuer: URL): { [oidc.allowInsecureRequests]?: boolean } {
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname);
  return loopback && issuer.protocol === 'http:' ? { [oidc.allowInsecureRequests]: true } : {};
}

/** An issuer's metadata (OpenID Connect discovery, or RFC 8414's), kept ten minutes. */
export async function discover(
  issuer: URL,
  algorithm: 'oidc' | 'oauth2' = 'oidc',
  now = Date.now(),
): Promise<oidc.AuthorizationServer> {
  const id = `${algorithm} ${issuer.href}`;
  const hit = discovered.get(id);
  if (hit && hit.until > now) return hit.as;
  const response = await oidc.discoveryRequest(issuer, { algorithm, ...requestOptions(issuer) });
  const as = await oidc.processDiscoveryResponse(issuer, response);
  discovered.set(id, { until: now + discoverySeconds * 1000, as });
  return as;
}

function claimText(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= 256 ? value : undefined;
}

/** Group claims come as a list or as one space-separated string, depending on the provider. */
export function groupsOf(claims: Record<string, unknown>, claim: string): string[] {
  const value = claims[claim];
  const groups = Array.isArray(value) ? value : typeof value === 'string' ? value.split(' ') : [];
  return groups
    .filter((g): g is string => typeof g === 'string' && g.length > 0 && g.length <= 256)
    .slice(0, 256);
}

export async function identityProvider(settings: SignInSettings): Promise<IdentityProvider> {
  const issuer = new URL(settings.SIGN_IN_ISSUER);
  const options = requestOptions(issuer);
  const as = await discover(issuer);
  const client: oidc.Client = { client_id: settings.SIGN_IN_CLIENT_ID };
  const auth =
    settings.SIGN_IN_CLIENT_SECRET === undefined
      ? oidc.None()
      : oidc.ClientSecretPost(settings.SIGN_IN_CLIENT_SECRET);
  return {
    newSecret: () => oidc.generateRandomCodeVerifier(),
    async authorizationUrl(redirectUri, state, secrets) {
      if (as.authorization_endpoint === undefined)
        throw new Error('the identity provider names no authorization endpoint');
      const url = new URL(as.authorization_endpoint);
      url.search = new URLSearchParams({
        client_id: client.client_id,
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: settings.SIGN_IN_SCOPES,
        state,
        nonce: secrets.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(secrets.verifier),
        code_challenge_method: 'S256',
      }).toString();
      return url.href;
    },
    async person(callback, redirectUri, secrets) {
      // The library's finishUpstream already matched `state` to this browser and consumed it.
      const params = oidc.validateAuthResponse(as, client, callback, oidc.skipStateCheck);
      const response = await oidc.authorizationCodeGrantRequest(
        as,
        client,
        auth,
        params,
        redirectUri,
        secrets.verifier,
        options,
      );
      const tokens = await oidc.processAuthorizationCodeResponse(as, client, response, {
        expectedNonce: secrets.nonce,
        requireIdToken: true,
      });
      let claims: Record<string, unknown> = { ...oidc.getValidatedIdTokenClaims(tokens) };
      const needsUserInfo =
        claims[settings.SIGN_IN_GROUPS_CLAIM] === undefined ||
        claims[settings.SIGN_IN_PRINCIPAL_CLAIM] === undefined;
      if (needsUserInfo && as.userinfo_endpoint !== undefined) {
        const info = await oidc.userInfoRequest(as, client, tokens.access_token, options);
        claims = { ...(await oidc.processUserInfoResponse(as, client, String(claims.sub), info)), ...claims };
      }
      const principal = claimText(claims[settings.SIGN_IN_PRINCIPAL_CLAIM]);
      if (principal === undefined)
        throw new Error(`the ID token has no usable "${settings.SIGN_IN_PRINCIPAL_CLAIM}" claim`);
      return { principal, groups: groupsOf(claims, settings.SIGN_IN_GROUPS_CLAIM) };
    },
  };
}
