import { generateKeyPairSync, randomBytes } from 'node:crypto';

/**
 * A new private key for the edge's assertions (docs/upstream-identity.md): a P-256 JWK with a
 * key id of its own, on one line, for `wrangler secret put ASSERTION_SIGNING_KEY`.
 */
export function newAssertionKey(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `edge-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`;
  return JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid });
}
