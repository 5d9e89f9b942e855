import { type CryptoKey, importJWK, type JWK, SignJWT } from 'jose';
import { z } from 'zod';
import type { Principal } from '../../shared/policy/policy.ts';
import { jsonText } from '../../shared/validation.ts';

/**
 * The edge's statement of who is calling, for the organisation's identity provider: a JWT the
 * bridge presents in a token exchange (RFC 8693) or a JWT bearer grant (RFC 7523), so that the
 * upstream server gets a token of the caller's own. The provider trusts it through the edge's
 * JWKS (`/.well-known/jwks.json`). It lives one minute and is never the client's own token.
 */
export const assertionSeconds = 60;

const PrivateKeySchema = z
  .object({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    x: z.string().min(1),
    y: z.string().min(1),
    d: z.string().min(1),
    kid: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'letters, digits, ".", "_" and "-"'),
  })
  .strict();

/** A private P-256 JWK, or a JWK Set whose first key signs (the others are published, for a rotation). */
export const AssertionKeysSchema = jsonText('a private P-256 JWK, or {"keys": [...]}').pipe(
  z.union([
    PrivateKeySchema.transform((key) => [key]),
    z
      .object({ keys: z.array(PrivateKeySchema).min(1).max(4) })
      .strict()
      .transform((set) => set.keys),
  ]),
);

export type AssertionKeys = z.output<typeof AssertionKeysSchema>;

/** The public half of each key: what the identity provider fetches. */
export function publishedKeys(keys: AssertionKeys): { keys: JWK[] } {
  return { keys: keys.map(({ d: _private, ...key }) => ({ ...key, alg: 'ES256', use: 'sig' })) };
}

const imported = new WeakMap<AssertionKeys, Promise<CryptoKey | Uint8Array>>();

function signingKey(keys: AssertionKeys): Promise<CryptoKey | Uint8Array> {
  let key = imported.get(keys);
  if (key === undefined) {
    key = importJWK(keys[0] as JWK, 'ES256');
    imported.set(keys, key);
  }
  return key;
}

export interface AssertionSettings {
  keys: AssertionKeys;
  issuer: string;
  audience: string;
}

/** A fresh assertion for one request to one server: a jti of its own, so that the provider can refuse a replay. */
export async function assertionFor(
  settings: AssertionSettings,
  principal: Principal,
  server: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<string> {
  const kid = settings.keys[0]?.kid;
  return new SignJWT({ groups: principal.groups, auth_method: principal.method, mcp_server: server })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
    .setIssuer(settings.issuer)
    .setSubject(principal.subject)
    .setAudience(settings.audience)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + assertionSeconds)
    .setJti(crypto.randomUUID())
    .sign(await signingKey(settings.keys));
}
