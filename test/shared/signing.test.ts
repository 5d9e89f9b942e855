import { describe, expect, it } from 'vitest';
import type { Principal } from '../../shared/policy/policy.ts';
import {
  maxSkewSeconds,
  type SignedRequest,
  sign,
  signatureHeaders,
  verify,
} from '../../shared/security/signing.ts';

const secret = 'test-secret-0123456789abcdef';
const alice: Principal = { subject: 'alice', groups: ['viewers'], method: 'api_key' };
const body = new TextEncoder().encode(
  '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}',
);
const request: SignedRequest = { method: 'POST', path: '/everything/mcp', sessionId: 'b.1', body };
const now = 1_800_000_000;

function replayCache() {
  const seen = new Set<string>();
  return (nonce: string) => {
    const replay = seen.has(nonce);
    seen.add(nonce);
    return replay;
  };
}

async function check(
  headers: Record<string, string>,
  changed: Partial<SignedRequest> = {},
  at = now,
  seen = replayCache(),
) {
  return verify(secret, { ...request, ...changed }, (name) => headers[name], {
    nowSeconds: at,
    seen,
  });
}

describe('edge-to-bridge signatures', () => {
  it('verifies what was signed and carries the principal', async () => {
    const headers = await sign(secret, request, alice, now);
    expect(await check(headers)).toEqual({ ok: true, principal: alice });
  });

  it.each([
    [
      'body',
      {
        body: new TextEncoder().encode(
          '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get-env"}}',
        ),
      },
    ],
    ['method', { method: 'DELETE' }],
    ['path', { path: '/other/mcp' }],
    ['session', { sessionId: 'b.2' }],
  ] as const)('refuses a tampered %s', async (_, changed) => {
    const headers = await sign(secret, request, alice, now);
    expect(await check(headers, changed)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a tampered principal and a foreign secret', async () => {
    const headers = await sign(secret, request, alice, now);
    const mallory = await sign(secret, request, { ...alice, groups: ['admins'] }, now);
    expect(
      await check({ ...headers, [signatureHeaders.principal]: mallory[signatureHeaders.principal] ?? '' }),
    ).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    const foreign = await sign('another-secret-0123456789', request, alice, now);
    expect(await check(foreign)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses stale and replayed requests, and unsigned or malformed ones', async () => {
    const headers = await sign(secret, request, alice, now);
    expect(await check(headers, {}, now + maxSkewSeconds + 1)).toEqual({ ok: false, reason: 'stale' });
    expect(await check(headers, {}, now - maxSkewSeconds - 1)).toEqual({ ok: false, reason: 'stale' });
    const seen = replayCache();
    expect((await check(headers, {}, now, seen)).ok).toBe(true);
    expect(await check(headers, {}, now + 1, seen)).toEqual({ ok: false, reason: 'replayed' });
    expect(await check({})).toEqual({ ok: false, reason: 'unsigned' });
    expect(await check({ ...headers, [signatureHeaders.signature]: 'v2=abc' })).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(await check({ ...headers, [signatureHeaders.timestamp]: 'soon' })).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });
});
