import type { ServerDocument } from '../../shared/policy/document.ts';
import { mayConnect, type Principal } from '../../shared/policy/policy.ts';
import { loadDocument, serverNames } from '../documents.ts';
import type { Settings } from '../env.ts';
import { upstreamOf } from './forward.ts';

/**
 * Every server this caller may reach through the environment's bridge (of a named portal's
 * members, when given), by name, with its document.
 */
export async function membersFor(
  kv: KVNamespace,
  settings: Settings,
  principal: Principal,
  portal?: ServerDocument,
): Promise<Map<string, ServerDocument>> {
  const ttl = settings.DOCUMENT_CACHE_SECONDS;
  const names = portal?.portal?.members ?? (await serverNames(kv, ttl));
  const loaded = await Promise.all(names.map((name) => loadDocument(kv, name, ttl)));
  const members = new Map<string, ServerDocument>();
  for (const result of loaded) {
    if (!result.ok) continue;
    const doc = result.document;
    // A document with an upstream of its own is not behind the environment's bridge.
    // A portal is no member of another: its own members are.
    const served = doc.upstream === undefined && doc.portal === undefined && upstreamOf(doc, settings);
    if (served && mayConnect(doc, principal)) {
      members.set(doc.name, doc);
    }
  }
  return members;
}
