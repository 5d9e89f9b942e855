/**
 * DNS-rebinding and cross-site protection: a browser page must not be able to drive an
 * MCP endpoint. The Host header must name this service, and a browser's Origin must be
 * one we trust (non-browser MCP clients send no Origin at all).
 */
export interface OriginPolicy {
  /** Host names (without port) this endpoint answers to; `*` accepts any. */
  readonly allowedHosts: readonly string[];
  /** Browser origins allowed besides those on an allowed host, e.g. `https://inspector.example.com`. */
  readonly allowedOrigins: readonly string[];
}

export type OriginVerdict = 'ok' | 'forbidden_host' | 'forbidden_origin';

export const loopbackHosts = ['localhost', '127.0.0.1', '[::1]'] as const;

/** `example.com:8080` → `example.com`, `[::1]:80` → `[::1]`; lower-cased. */
export function hostName(hostHeader: string): string {
  const host = hostHeader.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  return host.split(':')[0] ?? '';
}

function hostAllowed(policy: OriginPolicy, name: string): boolean {
  return policy.allowedHosts.includes('*') || policy.allowedHosts.includes(name);
}

export function checkOrigin(
  policy: OriginPolicy,
  host: string | undefined,
  origin: string | undefined,
): OriginVerdict {
  if (host === undefined || !hostAllowed(policy, hostName(host))) return 'forbidden_host';
  if (origin === undefined) return 'ok';
  if (policy.allowedOrigins.includes(origin)) return 'ok';
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return 'forbidden_origin';
  }
  const name = hostName(originHost);
  const sameHost = !policy.allowedHosts.includes('*') && hostAllowed(policy, name);
  return sameHost ? 'ok' : 'forbidden_origin';
}
