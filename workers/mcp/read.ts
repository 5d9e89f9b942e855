import { depthRefusal, parseJson, readBody } from '../../shared/protocol/body.ts';
import { type JSONRPCMessage, validMessage } from '../../shared/protocol/jsonrpc.ts';
import type { Refusal } from '../../shared/protocol/refusal.ts';
import { refusalResponse } from '../../shared/protocol/refusal.ts';
import { type Revision, revisionOf } from '../../shared/protocol/revision.ts';
import type { Settings } from '../env.ts';

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

export type Parsed = { ok: true; message: JSONRPCMessage } | { ok: false; refusal: Refusal };

/** Exactly one JSON-RPC 2.0 message, validated; what is forwarded is this value re-serialised, never the bytes. */
export function parseMessage(body: Uint8Array): Parsed {
  const json = parseJson(body);
  if (!json.ok) return json;
  if (Array.isArray(json.value)) return { ok: false, refusal: { kind: 'batch_refused' } };
  const deep = depthRefusal(json.value);
  if (deep) return { ok: false, refusal: deep };
  const message = validMessage(json.value);
  if (message === undefined)
    return { ok: false, refusal: { kind: 'invalid_message', detail: 'not a JSON-RPC 2.0 message' } };
  return { ok: true, message };
}
