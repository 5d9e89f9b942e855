import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../shared/security/digest.ts';
import { type ApiKeyRecord, ApiKeyRecordSchema, apiKeyKey } from '../shared/storage/kv.ts';
import type { WranglerKv } from './wrangler-kv.ts';

/** API keys: the key is shown once; KV keeps only a record under its SHA-256. */

export class KeyError extends Error {}

/** `30d`, `12h`, `90m` from now, or an absolute date: the ISO time a key stops working. */
export function expiry(text: string | undefined, now = Date.now()): string | undefined {
  if (text === undefined) return undefined;
  const relative = /^(\d+)([dhm])$/.exec(text);
  if (relative) {
    const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[relative[2] as 'd' | 'h' | 'm'];
    return new Date(now + Number(relative[1]) * unit).toISOString();
  }
  const absolute = Date.parse(text);
  if (Number.isNaN(absolute))
    throw new KeyError(`--expires: "${text}" is neither like 30d/12h/90m nor a date`);
  if (absolute <= now) throw new KeyError(`--expires: ${text} is in the past`);
  return new Date(absolute).toISOString();
}

export interface Created {
  key: string;
  id: string;
  record: ApiKeyRecord;
}

/** Stores the record of `key` (a new random one unless given) and returns the key with its short id. */
export async function createKey(
  kv: WranglerKv,
  input: { principal: string; groups: string[]; expiresAt?: string },
  key = `mcpgw_${randomBytes(24).toString('base64url')}`,
): Promise<Created> {
  const { entry, id, record } = await keyEntry(input, key);
  await kv.putMany([entry]);
  return { key, id, record };
}

/** The KV entry for `key`: its record under the key's SHA-256. */
export async function keyEntry(
  input: { principal: string; groups: string[]; expiresAt?: string },
  key: string,
) {
  const hash = await sha256Hex(key);
  const record = ApiKeyRecordSchema.parse({ ...input, createdAt: new Date().toISOString() });
  return { entry: { key: apiKeyKey(hash), value: JSON.stringify(record) }, id: hash.slice(0, 12), record };
}

export interface Listed {
  id: string;
  record: ApiKeyRecord | undefined;
}

export async function listKeys(kv: WranglerKv): Promise<Listed[]> {
  const prefix = apiKeyKey('');
  const keys = await kv.list(prefix);
  const records = await kv.getMany(keys);
  return keys.map((key) => {
    const parsed = ApiKeyRecordSchema.safeParse(JSON.parse(records.get(key) ?? 'null'));
    return {
      id: key.slice(prefix.length, prefix.length + 12),
      record: parsed.success ? parsed.data : undefined,
    };
  });
}

/** Marks the one key whose hash starts with `id` as revoked; the edge refuses it at the next request. */
export async function revokeKey(kv: WranglerKv, id: string): Promise<ApiKeyRecord> {
  if (!/^[0-9a-f]{8,64}$/.test(id))
    throw new KeyError('keys revoke needs a key id (8 or more hex characters, from keys list)');
  const matches = await kv.list(apiKeyKey(id));
  if (matches.length !== 1) throw new KeyError(`key id ${id} matches ${matches.length} keys`);
  const key = matches[0] as string;
  const record = ApiKeyRecordSchema.parse(JSON.parse((await kv.get(key)) ?? 'null'));
  await kv.putMany([{ key, value: JSON.stringify({ ...record, revoked: true }) }]);
  return record;
}
