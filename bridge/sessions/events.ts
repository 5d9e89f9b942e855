import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import { sseData } from '../../shared/protocol/sse.ts';

/** Messages to be written as the text they came in (a child's line), where the session knows it. */
const texts = new WeakMap<object, string>();

/**
 * `message`, to be written as `text` (the one line of JSON it was read from, unchanged since), or
 * serialised if `text` is undefined: the same object may reach several sessions (a shared
 * child's broadcast), each with what it knows, and each writes at once.
 */
export function withText(message: JSONRPCMessage, text: string | undefined): JSONRPCMessage {
  if (text === undefined) texts.delete(message);
  else texts.set(message, text);
  return message;
}

type EventWriter = (
  controller: ReadableStreamDefaultController<Uint8Array>,
  encoder: { encode(text: string): Uint8Array },
  message: JSONRPCMessage,
  eventId?: string,
) => boolean;

/**
 * The SDK's transport writes every event's data with `JSON.stringify`: 4 to 5 ms for a 1 MiB
 * result, on top of the parse it came through (docs/performance.md). This makes `transport` write
 * a message given `withText` as that text instead, in the SDK's own event format; any other
 * message goes to the SDK's writer. The writer is private to the SDK: if a release renames it,
 * nothing is patched and every message is serialised again, as before (a test says so).
 */
export function writesText(transport: WebStandardStreamableHTTPServerTransport): void {
  const target = transport as unknown as { writeSSEEvent?: EventWriter; onerror?: (error: Error) => void };
  const original = target.writeSSEEvent;
  if (typeof original !== 'function') return;
  target.writeSSEEvent = (controller, encoder, message, eventId) => {
    const text = texts.get(message);
    if (text === undefined) return original.call(transport, controller, encoder, message, eventId);
    try {
      controller.enqueue(encoder.encode(sseData(text, eventId)));
      return true;
    } catch (error) {
      target.onerror?.(error as Error);
      return false;
    }
  };
}
