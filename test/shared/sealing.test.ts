import { describe, expect, it } from 'vitest';
import { openCredential, sealCredential } from '../../shared/security/forwarded-credential.ts';
import { seal, sealingKey, unseal } from '../../shared/security/sealing.ts';
import { encodePrincipal, signatureHeaders } from '../../shared/security/signing.ts';

const secret = 's'.repeat(40);

describe('sealed values (tokens at rest, the connect cookie, a token on its way to the bridge)', () => {
  it('open with their key and context only: not altered, not moved, not with another use’s key', async () => {
    const key = await sealingKey(secret, 'upstream-tokens');
    const sealed = await seal(key, 'the token', 'connection:github:alice');
    expect(sealed).not.toContain('the token');
    expect(await unseal(key, sealed, 'connection:github:alice')).toBe('the token');
    expect(await unseal(key, sealed, 'connection:github:mallory')).toBeUndefined();
    expect(
      await unseal(await sealingKey(secret, 'connect-cookie'), sealed, 'connection:github:alice'),
    ).toBeUndefined();
    expect(
      await unseal(await sealingKey(`${secret}x`, 'upstream-tokens'), sealed, 'connection:github:alice'),
    ).toBeUndefined();
    // The next-to-last character: the last may carry padding bits only, which decoding ignores.
    const flipped = `${sealed.slice(0, -2)}${sealed.at(-2) === 'A' ? 'B' : 'A'}${sealed.slice(-1)}`;
    expect(await unseal(key, flipped, 'connection:github:alice')).toBeUndefined();
    for (const junk of ['', 'not base64!', 'AAAA']) expect(await unseal(key, junk, 'x')).toBeUndefined();
    // Two seals of one text differ (a random IV each).
    expect(await seal(key, 'the token', 'c')).not.toBe(await seal(key, 'the token', 'c'));
  });

  it('a forwarded token opens on the signed request it was sealed for, and on no other', async () => {
    const signed = (subject: string, nonce: string) => ({
      [signatureHeaders.principal]: encodePrincipal({ subject, groups: [], method: 'api_key' }),
      [signatureHeaders.nonce]: nonce,
    });
    const credential = {
      token: 'gho_secret',
      expiresAt: 2_000_000_000,
      connect: 'https://gw.test/connect/github',
    };
    const headers = signed('alice', 'n'.repeat(22));
    const sealed = await sealCredential(secret, 'github', headers, credential);
    const reading = (h: Record<string, string>) => (name: string) =>
      ({ ...h, 'mcp-gateway-credential-github': sealed })[name];
    expect(await openCredential(secret, 'github', reading(headers))).toEqual(credential);
    expect(await openCredential(secret, 'github', reading(signed('bob', 'n'.repeat(22))))).toBeUndefined();
    expect(await openCredential(secret, 'github', reading(signed('alice', 'm'.repeat(22))))).toBeUndefined();
    expect(await openCredential(secret, 'gitlab', reading(headers))).toBeUndefined();
    expect(await openCredential('t'.repeat(40), 'github', reading(headers))).toBeUndefined();
  });
});
