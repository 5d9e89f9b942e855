import { parseDocument, type ServerDocument } from '../shared/policy/document.ts';
import { documentKey } from '../shared/storage/kv.ts';

export type Loaded =
  | { ok: true; document: ServerDocument }
  | { ok: false; problem: 'missing' | 'invalid'; detail: string };

interface Cached {
  readonly until: number;
  readonly loaded: Loaded;
}

/** Documents cached in this isolate for a short time: a KV read is not paid on every request. */
const cache = new Map<string, Cached>();
const maxCached = 1000;

export async function loadDocument(
  kv: KVNamespace,
  server: string,
  ttlSeconds: number,
  now = Date.now(),
): Promise<Loaded> {
  const hit = cache.get(server);
  if (hit && hit.until > now) return hit.loaded;
  const loaded = parse(await kv.get(documentKey(server), 'text'));
  if (cache.size >= maxCached) cache.clear();
  cache.set(server, { until: now + ttlSeconds * 1000, loaded });
  return loaded;
}

function parse(text: string | null): Loaded {
  if (text === null) return { ok: false, problem: 'missing', detail: 'no server document' };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'invalid', detail: 'the stored document is not JSON' };
  }
  const result = parseDocument(json);
  return result.ok
    ? result
    : { ok: false, problem: 'invalid', detail: result.problems.slice(0, 5).join('; ') };
}

/** The names of every server with a document, in key order, page by page (at most 20,000). */
export async function* documentNames(kv: KVNamespace): AsyncGenerator<string> {
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const listed = await kv.list({ prefix: documentKey(''), cursor, limit: 1000 });
    for (const key of listed.keys) yield key.name.slice(documentKey('').length);
    if (listed.list_complete) return;
    cursor = listed.cursor;
  }
}

let names: { until: number; names: string[] } | undefined;

/** The names of every server with a document, cached in the isolate as the documents are. */
export async function serverNames(kv: KVNamespace, ttlSeconds: number, now = Date.now()): Promise<string[]> {
  if (names !== undefined && names.until > now) return names.names;
  const listed: string[] = [];
  for await (const name of documentNames(kv)) listed.push(name);
  names = { until: now + ttlSeconds * 1000, names: listed };
  return listed;
}

/** Tests and document updates within one isolate. */
export function forgetDocuments(): void {
  cache.clear();
  names = undefined;
}
