import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import type { HttpRefusal } from '../shared/errors.ts';
import { type JSONRPCMessage, maxNestingDepth, nestedTooDeep } from '../shared/jsonrpc.ts';

/** Request and response bodies at the edge: bounded reads, strict parsing, whole-body rewriting. */

export async function readBody(request: Request, limit: number): Promise<Uint8Array | undefined> {
  if (Number(request.headers.get('content-length') ?? 0) > limit) return undefined;
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

export type Parsed = { ok: true; message: JSONRPCMessage } | { ok: false; refusal: HttpRefusal };

/** Exactly one JSON-RPC 2.0 message, validated; what is forwarded is this value re-serialised, never the bytes. */
export function parseMessage(body: Uint8Array): Parsed {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body));
  } catch {
    return { ok: false, refusal: { kind: 'invalid_json' } };
  }
  if (Array.isArray(json)) return { ok: false, refusal: { kind: 'batch_refused' } };
  if (nestedTooDeep(json))
    return {
      ok: false,
      refusal: { kind: 'invalid_message', detail: `nested deeper than ${maxNestingDepth} levels` },
    };
  const parsed = JSONRPCMessageSchema.safeParse(json);
  if (!parsed.success)
    return { ok: false, refusal: { kind: 'invalid_message', detail: 'not a JSON-RPC 2.0 message' } };
  return { ok: true, message: parsed.data as JSONRPCMessage };
}

/** A whole-body JSON answer, rewritten once complete (bounded by the same 16 MiB as an SSE event). */
export function jsonFilter(
  inspect: (data: string) => string | undefined,
  max = 16 * 1024 * 1024,
): TransformStream<Uint8Array, Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  return new TransformStream({
    transform(chunk, controller) {
      size += chunk.byteLength;
      if (size > max) controller.error(new Error(`a JSON answer exceeds ${max} bytes`));
      chunks.push(chunk);
    },
    flush(controller) {
      const text = new TextDecoder().decode(concat(chunks, size));
      controller.enqueue(new TextEncoder().encode(inspect(text) ?? text));
    },
  });
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
