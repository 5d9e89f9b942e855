import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { Principal } from '../shared/policy/policy.ts';
import type { Refusal } from '../shared/protocol/refusal.ts';
import { sha256Hex } from '../shared/security/digest.ts';
import { type ApiKeyRecord, ApiKeyRecordSchema, apiKeyKey, effectiveGroups } from '../shared/storage/kv.ts';
import { type Env, type Settings, signsIn } from './env.ts';
import { groupsOf } from './sign-in/identity-provider.ts';
import { authorizationServer } from './sign-in/oauth.ts';
import { loadPrincipal } from './sign-in/principals.ts';

export type AuthFailure =
  | 'malformed'
  | 'unknown_key'
  | 'revoked_key'
  | 'expired_key'
  | 'invalid_token'
  | 'expired_token'
  | 'revoked';
export type Authentication = { ok: true; principal: Principal } | { ok: false; reason: AuthFailure };

export const anonymous: Principal = { subject: 'anonymous', groups: [], method: 'anonymous' };

const maxTokenBytes = 8192;
const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Asymmetric algorithms only: never `none`, never an HMAC that a public key could forge. */
const algorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];

const jwksCache = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

function jwks(url: string) {
  let set = jwksCache.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), {
      timeoutDuration: 5000,
      cooldownDuration: 30_000,
      cacheMaxAge: 600_000,
    });
    jwksCache.set(url, set);
  }
  return set;
}

/**
 * Who sent this request: anonymous without an Authorization header, else the holder of a
 * valid API key or OIDC JWT. `resource` is this MCP endpoint's URL: a JWT must name it as
 * its audience (RFC 8707), so a token minted for another resource is refused.
 */
export async function authenticate(
  header: string | null,
  env: Pick<Env, 'GATEWAY_KV' | 'OAUTH_KV'>,
  settings: Settings,
  resource: string,
  now = Date.now(),
): Promise<Authentication> {
  if (header === null) return { ok: true, principal: anonymous };
  const token = /^Bearer ([\x21-\x7e]+)$/.exec(header)?.[1];
  if (token === undefined) return { ok: false, reason: 'malformed' };
  if (token.length > maxTokenBytes) return { ok: false, reason: 'invalid_token' };
  if (jwtShape.test(token)) return verifyJwt(token, settings, resource);
  if (oauthShape.test(token)) return verifyOAuthToken(token, env, settings, resource);
  const key = await verifyApiKey(token, env.GATEWAY_KV, now, settings.DOCUMENT_CACHE_SECONDS);
  // A dotted token that is no key is a broken JWT (alg none, cut short): a token's 401, not a key's 403.
  const brokenJwt = !key.ok && key.reason === 'unknown_key' && token.includes('.');
  return brokenJwt ? { ok: false, reason: 'invalid_token' } : key;
}

/**
 * How a refused credential is answered. A token (JWT or the gateway's own) gets 401 with the
 * resource metadata, so that an OAuth client refreshes or signs in again. An API key gets 403
 * saying why: signing in cannot mend a key, and a 401 would only start a sign-in that waits.
 */
export function credentialRefusal(reason: AuthFailure, resourceMetadata: string): Refusal {
  switch (reason) {
    case 'malformed':
      return { kind: 'malformed_credentials' };
    case 'unknown_key':
      return { kind: 'key_refused', reason: 'unknown' };
    case 'revoked_key':
      return { kind: 'key_refused', reason: 'revoked' };
    case 'expired_key':
      return { kind: 'key_refused', reason: 'expired' };
    default:
      return {
        kind: 'unauthorized',
        resourceMetadata,
        detail: `credentials refused (${reason.replace('_', ' ')})`,
      };
  }
}

/** The OAuth library's tokens: `<user id>:<grant id>:<secret>`. */
const oauthShape = /^[^:]+:[^:]+:[^:]+$/;

/**
 * A token this gateway issued after sign-in: valid for this one resource (the library checks
 * the audience), and for a person an admin has not revoked; their groups are read now, so
 * removing a group takes effect at the next request.
 */
async function verifyOAuthToken(
  token: string,
  env: Pick<Env, 'GATEWAY_KV' | 'OAUTH_KV'>,
  settings: Settings,
  resource: string,
): Promise<Authentication> {
  if (!signsIn(settings) || env.OAUTH_KV === undefined) return { ok: false, reason: 'invalid_token' };
  const server = authorizationServer(settings, new URL(resource).origin, [resource]);
  const validated = await server.validateToken(resource, token, { OAUTH_KV: env.OAUTH_KV });
  const subject: unknown = validated?.props?.principal;
  if (validated === null || typeof subject !== 'string') return { ok: false, reason: 'invalid_token' };
  const record = await loadPrincipal(env.GATEWAY_KV, subject);
  if (record === undefined || record.revoked) return { ok: false, reason: 'revoked' };
  return { ok: true, principal: { subject, groups: effectiveGroups(record), method: 'oauth' } };
}

/**
 * Keys found valid, by their SHA-256, kept in the isolate for `DOCUMENT_CACHE_SECONDS` like
 * documents: a KV read is not paid on every request, and a revocation reaches this isolate
 * within that bound (docs/security.md). Only valid keys are kept: a new key works at once.
 */
const verifiedKeys = new Map<string, { until: number; record: ApiKeyRecord }>();
const maxVerifiedKeys = 10_000;

async function verifyApiKey(
  key: string,
  kv: KVNamespace,
  now: number,
  ttlSeconds: number,
): Promise<Authentication> {
  const hash = await sha256Hex(key);
  const hit = verifiedKeys.get(hash);
  const record = hit !== undefined && hit.until > now ? hit.record : await readKey(kv, hash);
  if (record === undefined) return { ok: false, reason: 'unknown_key' };
  if (record.revoked) return { ok: false, reason: 'revoked_key' };
  if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now)
    return { ok: false, reason: 'expired_key' };
  if (hit?.record !== record && ttlSeconds > 0) {
    if (verifiedKeys.size >= maxVerifiedKeys) verifiedKeys.clear();
    verifiedKeys.set(hash, { until: now + ttlSeconds * 1000, record });
  }
  return { ok: true, principal: { subject: record.principal, groups: record.groups, method: 'api_key' } };
}

async function readKey(kv: KVNamespace, hash: string): Promise<ApiKeyRecord | undefined> {
  const stored = await kv.get(apiKeyKey(hash), 'text');
  if (stored === null) return undefined;
  try {
    return ApiKeyRecordSchema.parse(JSON.parse(stored));
  } catch {
    return undefined;
  }
}

/** Tests and key changes within one isolate. */
export function forgetKeys(): void {
  verifiedKeys.clear();
}

async function verifyJwt(token: string, settings: Settings, resource: string): Promise<Authentication> {
  if (settings.OIDC_ISSUER === undefined || settings.OIDC_JWKS_URL === undefined) {
    return { ok: false, reason: 'invalid_token' };
  }
  try {
    const { payload } = await jwtVerify(token, jwks(settings.OIDC_JWKS_URL), {
      issuer: settings.OIDC_ISSUER,
      audience: resource,
      algorithms,
      clockTolerance: 30,
      requiredClaims: ['sub', 'exp'],
    });
    const subject = payload.sub;
    if (typeof subject !== 'string' || subject.length === 0 || subject.length > 256) {
      return { ok: false, reason: 'invalid_token' };
    }
    return {
      ok: true,
      principal: { subject, groups: groupsOf(payload, settings.OIDC_GROUPS_CLAIM), method: 'jwt' },
    };
  } catch (error) {
    return { ok: false, reason: error instanceof errors.JWTExpired ? 'expired_token' : 'invalid_token' };
  }
}
