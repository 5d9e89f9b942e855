import { rewritesAnswer } from '../../shared/policy/gate.ts';
import { isFailure, type JSONRPCMessage, peekMessage, resultOf } from '../../shared/protocol/jsonrpc.ts';
import type { Rewritten } from '../../shared/protocol/received.ts';
import { sseFilter } from '../../shared/protocol/sse.ts';
import { jsonBody, jsonFilter } from './json-stream.ts';
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
  // Most answers are read from their text alone, and pass as they came (a 1 MiB result is not parsed).
  const inspect = (data: string): Rewritten => {
    const peek = peekMessage(data);
    if (peek?.kind === 'message' && peek.method !== 'notifications/resources/updated') return undefined;
    const ours =
      peek?.kind === 'response' && (peek.id === undefined || peek.id === JSON.stringify(requestId));
    if (peek?.kind === 'response' && ours && requestId !== undefined && passage.reshape === undefined) {
      status = peek.failed ? 'error' : 'success';
      const method = gate?.method;
      if (method === undefined || !rewritesAnswer(method)) return undefined;
      const spliced = passage.view.filteredText?.(method, data);
      if (spliced !== undefined) return spliced;
    }
    return parsed(data);
  };
  const parsed = (data: string): string | null | undefined => {
    let message: JSONRPCMessage & { id?: unknown };
    try {
      message = JSON.parse(data) as JSONRPCMessage & { id?: unknown };
    } catch {
      return undefined;
    }
    // JSON but no message (`null`, a number): passed as it came, as text that is not JSON is.
    if (typeof message !== 'object' || message === null) return undefined;
    // A batch: the edge takes none from a client, and the messages in one would pass the policy unread.
    if (Array.isArray(message)) return null;
    if (!passage.view.mayDeliver(message)) return null;
    if (requestId === undefined || message.id !== requestId || 'method' in message) return undefined;
    status = isFailure(message) ? 'error' : 'success';
    const result = resultOf(message);
    if (result === undefined || gate?.method === undefined) return undefined;
    const filtered = passage.view.filtered(gate.method, result);
    const shaped = passage.reshape ? passage.reshape(filtered ?? result) : filtered;
    return shaped === undefined ? undefined : JSON.stringify({ ...message, result: shaped });
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
      () => passage.view.changed(),
      Math.max(1, x.settings.DOCUMENT_CACHE_SECONDS) * 1000,
      gate?.method === 'subscriptions/listen' ? listenChanges(gate.message) : sessionChanges,
    );
  }
  if (stream && type.startsWith('text/event-stream')) stream = stream.pipeThrough(sseFilter(inspect));
  else if (stream && requestId !== undefined && type.startsWith('application/json'))
    stream = stream.pipeThrough(standing ? jsonFilter(inspect) : jsonBody(inspect));
  if (!stream) {
    finish(x, passage, status, 0);
    return new Response(null, { status: response.status, headers });
  }
  return new Response(stream.pipeThrough(counter), { status: response.status, headers });
}
