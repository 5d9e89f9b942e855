import { z } from 'zod';
import type { Principal } from '../policy/policy.ts';
import { base64url, fromBase64url } from './base64url.ts';
import { sha256Hex } from './digest.ts';

/**
 * The edge signs every request it forwards to a bridge; the bridge refuses any that is
 * unsigned, altered, stale or replayed. Format: docs/signing.md. Runtime-neutral: WebCrypto
 * is the same in workerd and in Node.
 */
export const signatureHeaders = {
  timestamp: 'mcp-gateway-timestamp',
  nonce: 'mcp-gateway-nonce',
  principal: 'mcp-gateway-principal',
  signature: 'mcp-gateway-signature',
} as const;

export const maxSkewSeconds = 60;

/**
 * The edge's assertion of the caller (a JWT its identity provider trusts) for one `token-exchange`
 * server, in a header of that server's: a portal's request may carry one for each member. Not
 * covered by the HMAC: the bridge checks that it names the signed principal, and the identity
 * provider checks its signature and refuses a replay (docs/upstream-identity.md).
 */
export function assertionHeader(server: string): string {
  return `mcp-gateway-assertion-${server}`;
}

export interface SignedRequest {
  method: string;
  /** Path and query, e.g. `/openshift/mcp`. */
  path: string;
  sessionId: string | undefined;
  body: Uint8Array;
}

const PrincipalSchema = z
  .object({
    sub: z.string().min(1).max(256),
    groups: z.array(z.string().max(256)).max(256),
    method: z.enum(['api_key', 'jwt', 'oauth', 'anonymous']),
  })
  .strict();

type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

const encoder = new TextEncoder();

async function canonical(request: SignedRequest, principal: string, timestamp: string, nonce: string) {
  const lines = [
    'mcp-gateway-v1',
    request.method.toUpperCase(),
    request.path,
    request.sessionId ?? '',
    principal,
    timestamp,
    nonce,
    await sha256Hex(request.body),
  ];
  return encoder.encode(lines.join('\n'));
}

/** Imported keys by usage and secret: one import per secret, not one per request. */
const keys = new Map<string, Promise<HmacKey>>();

function hmacKey(secret: string, usage: 'sign' | 'verify'): Promise<HmacKey> {
  const id = `${usage}:${secret}`;
  let key = keys.get(id);
  if (key === undefined) {
    if (keys.size >= 8) keys.clear();
    key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      usage,
    ]);
    keys.set(id, key);
  }
  return key;
}

export function encodePrincipal(principal: Principal): string {
  return base64url(
    encoder.encode(
      JSON.stringify({ sub: principal.subject, groups: principal.groups, method: principal.method }),
    ),
  );
}

/** The headers to add to a forwarded request. */
export async function sign(
  secret: string,
  request: SignedRequest,
  principal: Principal,
  nowSeconds: number,
): Promise<Record<string, string>> {
  const nonce = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const encoded = encodePrincipal(principal);
  const timestamp = String(Math.floor(nowSeconds));
  const key = await hmacKey(secret, 'sign');
  const mac = new Uint8Array(
    await crypto.subtle.sign('HMAC', key, await canonical(request, encoded, timestamp, nonce)),
  );
  return {
    [signatureHeaders.timestamp]: timestamp,
    [signatureHeaders.nonce]: nonce,
    [signatureHeaders.principal]: encoded,
    [signatureHeaders.signature]: `v1=${base64url(mac)}`,
  };
}

export type Rejection = 'unsigned' | 'malformed' | 'bad_signature' | 'stale' | 'replayed';
export type Verification = { ok: true; principal: Principal } | { ok: false; reason: Rejection };

export interface VerifyOptions {
  nowSeconds: number;
  /** Records the nonce; answers true if it was seen within the skew window (a replay). */
  seen: (nonce: string, expiresAtSeconds: number) => boolean;
}

/** Checks a forwarded request's signature headers. The signature is compared by WebCrypto, in constant time. */
export async function verify(
  secret: string,
  request: SignedRequest,
  header: (name: string) => string | undefined,
  options: VerifyOptions,
): Promise<Verification> {
  const [timestamp, nonce, principal, signature] = [
    header(signatureHeaders.timestamp),
    header(signatureHeaders.nonce),
    header(signatureHeaders.principal),
    header(signatureHeaders.signature),
  ];
  if (signature === undefined) return { ok: false, reason: 'unsigned' };
  if (timestamp === undefined || nonce === undefined || principal === undefined)
    return { ok: false, reason: 'malformed' };
  const mac = signature.startsWith('v1=') ? fromBase64url(signature.slice(3)) : undefined;
  if (
    !/^\d{1,12}$/.test(timestamp) ||
    !/^[A-Za-z0-9_-]{16,64}$/.test(nonce) ||
    mac === undefined ||
    principal.length > 8192
  ) {
    return { ok: false, reason: 'malformed' };
  }
  const key = await hmacKey(secret, 'verify');
  const valid = await crypto.subtle.verify(
    'HMAC',
    key,
    mac,
    await canonical(request, principal, timestamp, nonce),
  );
  if (!valid) return { ok: false, reason: 'bad_signature' };
  if (Math.abs(options.nowSeconds - Number(timestamp)) > maxSkewSeconds)
    return { ok: false, reason: 'stale' };
  if (options.seen(nonce, Number(timestamp) + maxSkewSeconds)) return { ok: false, reason: 'replayed' };
  const bytes = fromBase64url(principal);
  let decoded: unknown;
  try {
    decoded = bytes === undefined ? undefined : JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const parsed = PrincipalSchema.safeParse(decoded);
  if (!parsed.success) return { ok: false, reason: 'malformed' };
  return {
    ok: true,
    principal: { subject: parsed.data.sub, groups: parsed.data.groups, method: parsed.data.method },
  };
}
