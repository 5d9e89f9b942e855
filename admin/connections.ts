import { connectionKey, connectionPrefix } from '../shared/storage/kv.ts';
import type { WranglerKv } from './wrangler-kv.ts';

/** A person's connected account at a `per-user-oauth` server: who and where, never the tokens. */
export interface ConnectionSummary {
  server: string;
  principal: string;
}

function summaryOf(key: string): ConnectionSummary | undefined {
  const match = /^connection:([a-z0-9][a-z0-9-]*):(.+)$/.exec(key);
  if (match === null) return undefined;
  try {
    return { server: match[1] as string, principal: decodeURIComponent(match[2] as string) };
  } catch {
    return undefined;
  }
}

export async function listConnections(kv: WranglerKv, server?: string): Promise<ConnectionSummary[]> {
  return (await kv.list(connectionPrefix(server))).flatMap((key) => summaryOf(key) ?? []);
}

/**
 * Deletes a person's connections (one server's, or all): the next call that needs one gets the
 * connect link. The authorization server is not told (the CLI holds no client secret): the
 * person's own Disconnect on the connect page revokes there too.
 */
export async function revokeConnections(kv: WranglerKv, principal: string, server?: string): Promise<number> {
  const found = (await listConnections(kv, server)).filter((c) => c.principal === principal);
  await kv.deleteMany(found.map((c) => connectionKey(c.server, c.principal)));
  return found.length;
}

/** A new UPSTREAM_TOKEN_KEY: 32 random bytes, base64url, for `wrangler secret put`. */
export function newTokenKey(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
}
