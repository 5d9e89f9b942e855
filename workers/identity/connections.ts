import { z } from 'zod';
import { seal, sealingKey, unseal } from '../../shared/security/sealing.ts';
import { connectionKey } from '../../shared/storage/kv.ts';
import type { Connection } from './upstream-oauth.ts';

/**
 * Each person's connected account per `per-user-oauth` server, in KV: sealed with a key derived
 * from UPSTREAM_TOKEN_KEY, and bound to its KV key, so that a value copied under another
 * person's key does not open (docs/upstream-identity.md). KV holds no token in the clear.
 */
const ConnectionSchema = z
  .object({
    accessToken: z
      .string()
      .min(1)
      .max(16 * 1024),
    refreshToken: z
      .string()
      .min(1)
      .max(16 * 1024)
      .optional(),
    expiresAt: z.number().optional(),
    renewAt: z.number().optional(),
    scope: z.string().max(4096).optional(),
    connectedAt: z.string(),
  })
  .strict();

export interface ConnectionStore {
  load(server: string, principal: string): Promise<Connection | undefined>;
  save(server: string, principal: string, connection: Connection): Promise<void>;
  remove(server: string, principal: string): Promise<void>;
}

export function connectionStore(kv: KVNamespace, tokenKey: string): ConnectionStore {
  const key = () => sealingKey(tokenKey, 'upstream-tokens');
  return {
    async load(server, principal) {
      const name = connectionKey(server, principal);
      const sealed = await kv.get(name);
      if (sealed === null) return undefined;
      const text = await unseal(await key(), sealed, name);
      // Unreadable (another key, or moved here from another person's entry): not connected.
      if (text === undefined) {
        console.error(JSON.stringify({ event: 'identity.connection_unreadable', server, principal }));
        return undefined;
      }
      const parsed = ConnectionSchema.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    },
    async save(server, principal, connection) {
      const name = connectionKey(server, principal);
      await kv.put(name, await seal(await key(), JSON.stringify(connection), name));
    },
    remove: (server, principal) => kv.delete(connectionKey(server, principal)),
  };
}
