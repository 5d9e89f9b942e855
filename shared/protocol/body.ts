import { maxNestingDepth, nestedTooDeep } from './jsonrpc.ts';
import type { Refusal } from './refusal.ts';

/**
 * A request body as the Worker and the bridge both read it (or an answer from elsewhere):
 * refused as soon as it passes `limit` bytes, whatever Content-Length claims; then decoded as
 * strict UTF-8 and parsed.
 */
export async function readBody(request: Request | Response, limit: number): Promise<Uint8Array | undefined> {
  const declared = request.headers.get('content-length');
  if (Number(declared ?? 0) > limit) return undefined;
  // A declared length is what HTTP framing delivers, no more: read at once (the runtimes' fast path).
  if (declared !== null && /^\d+$/.test(declared)) return new Uint8Array(await request.arrayBuffer());
  const reader = request.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const next = await reader?.read();
    if (!next || next.done) break;
    size += next.value.byteLength;
    if (size > limit) {
      await reader?.cancel();
      return undefined;
    }
    chunks.push(next.value);
  }
  return concat(chunks, size);
}

export type ParsedJson = { ok: true; value: unknown } | { ok: false; refusal: Refusal };

/** The text each parsed object or array was read from (held as long as the value is). */
const sources = new WeakMap<object, string>();

export function parseJson(body: Uint8Array): ParsedJson {
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body);
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null) sources.set(value, text);
    return { ok: true, value };
  } catch {
    return { ok: false, refusal: { kind: 'invalid_json' } };
  }
}

/** The text `parseJson` read `value` from: for a hop that passes a message on unchanged. */
export function sourceOf(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null ? sources.get(value) : undefined;
}

/** Deeper than any real message: refused before anything walks it recursively (the SDK, zod, a server). */
export function depthRefusal(value: unknown): Refusal | undefined {
  if (!nestedTooDeep(value)) return undefined;
  return { kind: 'invalid_message', detail: `nested deeper than ${maxNestingDepth} levels` };
}

/** The chunks as one array (one chunk: itself, not copied). */
export function concat(
  chunks: Uint8Array[],
  size = chunks.reduce((n, c) => n + c.byteLength, 0),
): Uint8Array {
  if (chunks.length === 1 && chunks[0]?.byteLength === size) return chunks[0];
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
