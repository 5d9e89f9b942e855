import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { type JSONRPCMessage, maxNestingDepth, nestedTooDeep } from '../../shared/protocol/jsonrpc.ts';
import type { Refusal } from '../../shared/protocol/refusal.ts';

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

export type Parsed = { ok: true; message: JSONRPCMessage } | { ok: false; refusal: Refusal };

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

/**
 * A JSON answer, rewritten message by message as it streams: a body may carry one message, or
 * (a standing 2026-07-28 listen) one per line and stay open, so nothing waits for its end. A
 * message is complete when its brackets close outside strings, however it is spread over lines
 * or chunks; `inspect` gets each one (null drops it), and the space between passes as it is.
 * Memory: one message, at most `max` bytes, as for an SSE event.
 */
export function jsonFilter(
  inspect: (data: string) => string | null | undefined,
  max = 16 * 1024 * 1024,
): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const scan = new MessageScanner();
  const emit = (text: string, controller: TransformStreamDefaultController<Uint8Array>) => {
    const body = text.trimStart();
    const out = body === '' ? '' : inspect(body);
    const kept = text.slice(0, text.length - body.length) + (out === null ? '' : (out ?? body));
    if (kept !== '') controller.enqueue(encoder.encode(kept));
  };
  return new TransformStream({
    transform(chunk, controller) {
      for (const message of scan.push(decoder.decode(chunk, { stream: true }))) emit(message, controller);
      if (scan.pendingLength > max) controller.error(new Error(`a JSON message exceeds ${max} bytes`));
    },
    flush(controller) {
      emit(scan.rest() + decoder.decode(), controller);
    },
  });
}

/** Splits JSON text into top-level values at the bracket that closes each, strings and escapes respected. */
class MessageScanner {
  private pending = '';
  private scanned = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  get pendingLength(): number {
    return this.pending.length;
  }

  push(text: string): string[] {
    this.pending += text;
    const complete: string[] = [];
    let start = 0;
    for (let i = this.scanned; i < this.pending.length; i++) {
      const c = this.pending[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
      } else if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth += 1;
      else if ((c === '}' || c === ']') && --this.depth === 0) {
        complete.push(this.pending.slice(start, i + 1));
        start = i + 1;
      }
    }
    this.pending = this.pending.slice(start);
    this.scanned = this.pending.length;
    return complete;
  }

  rest(): string {
    const rest = this.pending;
    this.pending = '';
    this.scanned = 0;
    return rest;
  }
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
