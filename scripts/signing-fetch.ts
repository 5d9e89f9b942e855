import type { Principal } from '../shared/policy/policy.ts';
import { sign } from '../shared/security/signing.ts';

export const testSecret = 'a-test-secret-that-is-long-enough-0123456789';

function bytesOf(body: unknown): Uint8Array {
  if (body === undefined || body === null) return new Uint8Array();
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  throw new Error('the signing fetch only signs string bodies');
}

/** A fetch that signs each request as the edge Worker does, for SDK clients in tests. */
export function signingFetch(principal: Principal, secret = testSecret, clock = () => Date.now() / 1000) {
  return async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    const headers = new Headers(init.headers);
    const signed = await sign(
      secret,
      {
        method: init.method ?? 'GET',
        path: url.pathname + url.search,
        sessionId: headers.get('mcp-session-id') ?? undefined,
        body: bytesOf(init.body),
      },
      principal,
      clock(),
    );
    for (const [name, value] of Object.entries(signed)) headers.set(name, value);
    return fetch(url, { ...init, headers });
  };
}
