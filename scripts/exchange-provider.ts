import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, exportJWK, generateKeyPair, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import Provider, { errors } from 'oidc-provider';
import { withoutDevelopmentWarnings } from './demo-identity-provider.ts';

const tokenExchange = 'urn:ietf:params:oauth:grant-type:token-exchange';
const jwtBearer = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export interface ExchangeProvider {
  issuer: string;
  tokenEndpoint: string;
  jwksUrl: string;
  clientId: string;
  clientSecret: string;
  /** Exchanges granted, by subject. */
  granted: Map<string, number>;
  /** The scope each exchange asked for, in order. */
  scopes: string[];
  /** Every access token it issued: what a leak test looks for. */
  issued: string[];
  /** Each refusal's error description, in order. */
  refusals: string[];
  /** Trust the edge's assertions: its JWKS and issuer (the edge starts after the provider). */
  trust(edgeJwksUrl: string, edgeIssuer: string): void;
  /** This person may get no more tokens. */
  revoke(subject: string): void;
  stop(): Promise<void>;
}

/**
 * For tests and benchmarks: an organisation's identity provider (oidc-provider, for real) that trades the edge's
 * assertion of a person for an access token of theirs: RFC 8693 token exchange and the RFC 7523
 * JWT bearer grant, through oidc-provider's hook for grant types. It checks the assertion's
 * signature against the edge's JWKS, its issuer, audience and expiry, and refuses a replayed jti.
 */
export async function startExchangeProvider(options: { tokenSeconds: number }): Promise<ExchangeProvider> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'mcp-bridge';
  const clientSecret = randomBytes(24).toString('base64url');
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const signing = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'idp' };
  const provider = withoutDevelopmentWarnings(
    () =>
      new Provider(issuer, {
        clients: [
          {
            client_id: clientId,
            client_secret: clientSecret,
            grant_types: [tokenExchange, jwtBearer],
            response_types: [],
            redirect_uris: [],
            token_endpoint_auth_method: 'client_secret_basic',
            id_token_signed_response_alg: 'ES256',
          },
        ],
        jwks: { keys: [signing] },
        cookies: { keys: [randomBytes(24).toString('base64url')] },
      }),
  );
  const state = {
    edge: undefined as { jwks: ReturnType<typeof createRemoteJWKSet>; issuer: string } | undefined,
    seen: new Set<string>(),
    revoked: new Set<string>(),
  };
  const granted = new Map<string, number>();
  const issued: string[] = [];
  const refusals: string[] = [];
  const scopes: string[] = [];

  const refuse = (description: string): never => {
    refusals.push(description);
    throw new errors.InvalidGrant(description);
  };

  async function verified(assertion: unknown): Promise<JWTPayload & { sub: string }> {
    if (typeof assertion !== 'string' || state.edge === undefined) return refuse('no assertion');
    const checked = await jwtVerify(assertion, state.edge.jwks, {
      issuer: state.edge.issuer,
      audience: issuer,
      algorithms: ['ES256'],
      maxTokenAge: '2m',
    }).catch((error: Error) => refuse(`assertion not trusted: ${error.message}`));
    const { payload } = checked;
    if (typeof payload.sub !== 'string' || typeof payload.jti !== 'string')
      return refuse('assertion without sub or jti');
    if (state.seen.has(payload.jti)) return refuse('assertion replayed');
    state.seen.add(payload.jti);
    if (state.revoked.has(payload.sub)) return refuse(`${payload.sub} may no longer use this`);
    return payload as JWTPayload & { sub: string };
  }

  async function grant(ctx: { body?: unknown }, claims: JWTPayload & { sub: string }, audience: string) {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ groups: claims.groups, client_id: clientId })
      .setProtectedHeader({ alg: 'ES256', kid: 'idp', typ: 'at+jwt' })
      .setIssuer(issuer)
      .setSubject(claims.sub)
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + options.tokenSeconds)
      .setJti(randomBytes(12).toString('base64url'))
      .sign(privateKey);
    issued.push(token);
    granted.set(claims.sub, (granted.get(claims.sub) ?? 0) + 1);
    ctx.body = {
      access_token: token,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: options.tokenSeconds,
    };
  }

  provider.registerGrantType(
    tokenExchange,
    async (ctx) => {
      const params = ctx.oidc.params as Record<string, unknown>;
      if (params.subject_token_type !== 'urn:ietf:params:oauth:token-type:jwt') refuse('subject_token_type');
      const claims = await verified(params.subject_token);
      scopes.push(String(params.scope ?? ''));
      await grant(ctx, claims, String(params.audience ?? params.resource ?? 'unspecified'));
    },
    ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'resource', 'scope'],
  );
  provider.registerGrantType(
    jwtBearer,
    async (ctx) => {
      const params = ctx.oidc.params as Record<string, unknown>;
      const claims = await verified(params.assertion);
      await grant(ctx, claims, String(params.resource ?? 'unspecified'));
    },
    ['assertion', 'resource', 'scope'],
  );
  server.on('request', provider.callback());
  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    jwksUrl: `${issuer}/jwks`,
    clientId,
    clientSecret,
    granted,
    issued,
    refusals,
    scopes,
    trust(edgeJwksUrl, edgeIssuer) {
      state.edge = { jwks: createRemoteJWKSet(new URL(edgeJwksUrl)), issuer: edgeIssuer };
    },
    revoke: (subject) => state.revoked.add(subject),
    stop: () => close(server),
  };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
