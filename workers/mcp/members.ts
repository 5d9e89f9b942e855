import type { ServerDocument } from '../../shared/policy/document.ts';
import { mayConnect, type Principal } from '../../shared/policy/policy.ts';
import { loadDocument, serverNames } from '../documents.ts';
import type { Settings } from '../env.ts';
import { upstreamOf } from './forward.ts';

/** Every server this caller may reach through the environment's bridge, by name, with its document. */
export async function membersFor(
  kv: KVNamespace,
  settings: Settings,
  principal: Principal,
): Promise<Map<string, ServerDocument>> {
  const ttl = settings.DOCUMENT_CACHE_SECONDS;
  const names = await serverNames(kv, ttl);
  const loaded = await Promise.all(names.map((name) => loadDocument(kv, name, ttl)));
  const members = new Map<string, ServerDocument>();
  for (const result of loaded) {
    if (!result.ok) continue;
    const doc = result.document;
    // A document with an upstream of its own is not behind the environment's bridge.
    if (doc.upstream === undefined && upstreamOf(doc, settings) && mayConnect(doc, principal)) {
      members.set(doc.name, doc);
    }
  }
  return members;
}
