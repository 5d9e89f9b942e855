import { type PrincipalRecord, PrincipalRecordSchema, principalKey } from '../../shared/storage/kv.ts';

/** A signed-in person's record; a corrupt one reads as revoked: fail closed. */
export async function loadPrincipal(
  kv: KVNamespace,
  principal: string,
): Promise<PrincipalRecord | undefined> {
  const text = await kv.get(principalKey(principal), 'text');
  if (text === null) return undefined;
  try {
    return PrincipalRecordSchema.parse(JSON.parse(text));
  } catch {
    return { principal, userId: '-', groups: [], removedGroups: [], revoked: true };
  }
}

export async function savePrincipal(kv: KVNamespace, record: PrincipalRecord): Promise<void> {
  await kv.put(principalKey(record.principal), JSON.stringify(PrincipalRecordSchema.parse(record)));
}
