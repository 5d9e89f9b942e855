import {
  filterDiscoverResult,
  filterListResult,
  isFilteredList,
  mayDeliver,
} from '../../shared/policy/gate.ts';
import { isFailure, type JSONRPCMessage, resultOf } from '../../shared/protocol/jsonrpc.ts';
import { sseFilter } from '../../shared/protocol/sse.ts';
import { loadDocument } from '../documents.ts';
import { rememberTools } from '../registry/catalog.ts';
import { jsonFilter } from './json-stream.ts';
import { finish } from './meter.ts';
import type { Forwarded, McpRequest, Passage } from './passage.ts';
import { listenChanges, sessionChanges, watchDocument } from './watch.ts';

const forwardedResponseHeaders = ['content-type', 'mcp-session-id', 'retry-after', 'cache-control'];

/** The bridge's answer on its way back: lists filtered, JSON or SSE, event by event; bytes counted. */
export function relay(
  x: McpRequest,
  passage: Passage,
  response: Response,
  gate: Forwarded | undefined,
): Response {
  const headers = new Headers();
  for (const name of forwardedResponseHeaders) {
    const value = response.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  const requestId = gate && 'id' in gate.message ? gate.message.id : undefined;
  let status = response.ok ? 'success' : 'upstream_error';
  const inspect = (data: string): string | null | undefined => {
    // Without a request of its own (a standing stream), only a resource update can be filtered.
    if (requestId === undefined && !data.includes('notifications/resources/updated')) return undefined;
    let message: JSONRPCMessage & { id?: unknown };
    try {
      message = JSON.parse(data) as JSONRPCMessage & { id?: unknown };
    } catch {
      return undefined;
    }
    if (!mayDeliver(passage.doc, passage.principal, message)) return null;
    if (requestId === undefined || message.id !== requestId || 'method' in message) return undefined;
    status = isFailure(message) ? 'error' : 'success';
    const result = resultOf(message);
    if (gate?.method === 'server/discover' && result !== undefined) {
      const filtered = filterDiscoverResult(passage.doc, passage.principal, result);
      return JSON.stringify({ ...message, result: filtered });
    }
    if (!isFilteredList(gate?.method) || result === undefined || gate?.method === undefined) return undefined;
    if (gate.method === 'tools/list') {
      const write = rememberTools(x.env.GATEWAY_KV, x.server, result);
      if (write) x.ctx.waitUntil(write);
    }
    return JSON.stringify({
      ...message,
      result: filterListResult(passage.doc, passage.principal, gate.method, result),
    });
  };
  let bytes = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
    flush() {
      finish(x, passage, status, bytes);
    },
  });
  const type = response.headers.get('content-type') ?? '';
  let stream = response.body;
  const standing = x.request.method === 'GET' || gate?.method === 'subscriptions/listen';
  if (stream && standing && response.ok && type.startsWith('text/event-stream')) {
    stream = watchDocument(
      stream,
      documentChanged(x, passage),
      Math.max(1, x.settings.DOCUMENT_CACHE_SECONDS) * 1000,
      gate?.method === 'subscriptions/listen' ? listenChanges(gate.message) : sessionChanges,
    );
  }
  if (stream && type.startsWith('text/event-stream')) stream = stream.pipeThrough(sseFilter(inspect));
  else if (stream && requestId !== undefined && type.startsWith('application/json'))
    stream = stream.pipeThrough(jsonFilter(inspect));
  if (!stream) {
    finish(x, passage, status, 0);
    return new Response(null, { status: response.status, headers });
  }
  return new Response(stream.pipeThrough(counter), { status: response.status, headers });
}

/** True once the server's document differs from the one this stream was opened under (then follows the new one). */
function documentChanged(x: McpRequest, passage: Passage): () => Promise<boolean> {
  let known = JSON.stringify(passage.doc);
  return async () => {
    const loaded = await loadDocument(x.env.GATEWAY_KV, x.server, x.settings.DOCUMENT_CACHE_SECONDS);
    const now = JSON.stringify(loaded.ok ? loaded.document : null);
    if (now === known) return false;
    known = now;
    // What the stream still carries is filtered by the document in force, not the one it opened under.
    if (loaded.ok) passage.doc = loaded.document;
    return true;
  };
}
