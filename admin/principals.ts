import { z } from 'zod';
import {
  oauthUserId,
  type PrincipalRecord,
  PrincipalRecordSchema,
  principalKey,
} from '../shared/storage/kv.ts';
import type { WranglerKv } from './wrangler-kv.ts';

/**
 * People who signed in through the gateway's OAuth sign-in (GATEWAY_KV) and their grants
 * (OAUTH_KV, in the OAuth library's documented layout: `grant:<user>:<id>`,
 * `token:<user>:<grant>:<id>`). Changes take effect at the person's next request.
 */
export class PrincipalError extends Error {}

const GrantSchema = z.looseObject({
  id: z.string(),
  clientId: z.string(),
  createdAt: z.number(),
  expiresAt: z.number().optional(),
  resource: z.union([z.string(), z.array(z.string())]).optional(),
});

export interface GrantSummary {
  id: string;
  clientId: string;
  resource: string;
  createdAt: string;
  expiresAt?: string;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

export async function listPrincipals(kv: WranglerKv): Promise<PrincipalRecord[]> {
  const texts = await kv.getMany(await kv.list(principalKey('')));
  return [...texts.values()].flatMap((text) => {
    const parsed = PrincipalRecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? [parsed.data] : [];
  });
}

export async function principal(kv: WranglerKv, name: string): Promise<PrincipalRecord | undefined> {
  const text = await kv.get(principalKey(name));
  if (text === undefined) return undefined;
  const parsed = PrincipalRecordSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new PrincipalError(`the record of "${name}" is unreadable; the edge treats it as revoked`);
  return parsed.data;
}

export async function listGrants(oauthKv: WranglerKv, name: string): Promise<GrantSummary[]> {
  const texts = await oauthKv.getMany(await oauthKv.list(`grant:${oauthUserId(name)}:`));
  return [...texts.values()].flatMap((text) => {
    const parsed = GrantSchema.safeParse(JSON.parse(text));
    if (!parsed.success) return [];
    const { id, clientId, createdAt, expiresAt, resource } = parsed.data;
    return [
      {
        id,
        clientId,
        resource: Array.isArray(resource) ? resource.join(' ') : (resource ?? ''),
        createdAt: iso(createdAt),
        ...(expiresAt === undefined ? {} : { expiresAt: iso(expiresAt) }),
      },
    ];
  });
}

/** Deletes grants and their tokens (all of the person's, or one): refresh tokens stop working too. */
export async function revokeGrants(oauthKv: WranglerKv, name: string, grantId?: string): Promise<number> {
  const user = oauthUserId(name);
  const grants = grantId === undefined ? await oauthKv.list(`grant:${user}:`) : [`grant:${user}:${grantId}`];
  if (grantId !== undefined && (await oauthKv.get(grants[0] ?? '')) === undefined) {
    throw new PrincipalError(`no grant ${grantId} for "${name}" (see: mcpgw grants list ${name})`);
  }
  const tokens = grantId === undefined ? `token:${user}:` : `token:${user}:${grantId}:`;
  await oauthKv.deleteMany([...(await oauthKv.list(tokens)), ...grants]);
  return grants.length;
}

type Change = (record: PrincipalRecord) => PrincipalRecord;

/** Changes a person's record; one who never signed in gets one, so that a revocation waits for them. */
export async function changePrincipal(
  kv: WranglerKv,
  name: string,
  change: Change,
): Promise<PrincipalRecord> {
  const current = (await principal(kv, name)) ?? {
    principal: name,
    userId: oauthUserId(name),
    groups: [],
    removedGroups: [],
    revoked: false,
  };
  const next = PrincipalRecordSchema.parse({ ...change(current), changedAt: new Date().toISOString() });
  await kv.putMany([{ key: principalKey(name), value: JSON.stringify(next) }]);
  return next;
}

export const revoke: Change = (record) => ({ ...record, revoked: true });
export const restore: Change = (record) => ({ ...record, revoked: false });

export function removeGroup(group: string): Change {
  return (record) => ({ ...record, removedGroups: [...new Set([...record.removedGroups, group])] });
}

export function restoreGroup(group: string): Change {
  return (record) => ({ ...record, removedGroups: record.removedGroups.filter((g) => g !== group) });
}
