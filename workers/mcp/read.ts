import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { type JSONRPCMessage, maxNestingDepth, nestedTooDeep } from '../../shared/protocol/jsonrpc.ts';
import type { Refusal } from '../../shared/protocol/refusal.ts';
import { type Revision, revisionOf } from '../../shared/protocol/revision.ts';
import type { Settings } from '../env.ts';
import { refusalResponse } from '../refusal.ts';

/** The read stage: a POSTed body, bounded, parsed strictly, and placed in its MCP revision. */

export interface Incoming {
  message: JSONRPCMessage;
  bytes: number;
  revision: Revision;
}

/** A POSTed message, or the Response that refuses it when it cannot be read. */
export async function readIncoming(request: Request, settings: Settings): Promise<Incoming | Response> {
  const raw = await readBody(request, settings.MAX_BODY_BYTES);
  if (raw === undefined) return refusalResponse({ kind: 'body_too_large', limit: settings.MAX_BODY_BYTES });
  const parsed = parseMessage(raw);
  if (!parsed.ok) return refusalResponse(parsed.refusal);
  const header = (name: string) => request.headers.get(name) ?? undefined;
  const revision = revisionOf({
    httpMethod: 'POST',
    protocolVersion: header('mcp-protocol-version'),
    mcpMethod: header('mcp-method'),
    mcpName: header('mcp-name'),
    body: parsed.message,
  });
  return { message: parsed.message, bytes: raw.byteLength, revision };
}

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

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
