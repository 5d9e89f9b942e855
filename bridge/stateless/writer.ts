import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import { sseData, sseEvent } from '../../shared/protocol/sse.ts';
import { oneLine } from '../upstream/lines.ts';

/**
 * What a 2026-07-28 request gets back: an HTTP status and one JSON-RPC message; `text`, where it
 * was written from the server's own line (translate.ts's `completeText`), is written instead.
 */
export type Answer = { status: number; message: JSONRPCMessage; text?: string };

/** The one writer of the 2026-07-28 path: an answer as JSON, or events on a stream. */
export function jsonAnswer(answer: Answer, headers: Record<string, string> = {}): Response {
  return new Response(answer.text ?? JSON.stringify(answer.message), {
    status: answer.status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** How often an open stream with nothing to say writes a comment, as the SDK's transport does: proxies close silent connections. */
export const keepAliveMs = 15_000;
const keepAlive = new TextEncoder().encode(': keepalive\n\n');

/**
 * An SSE answer written as things happen (progress, then the result; or a listen stream's
 * notifications). Writes after the client left are dropped; `onclose` tells who keeps it.
 */
export class EventStream {
  readonly response: Response;
  onclose: (() => void) | undefined;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private open = true;
  private readonly encoder = new TextEncoder();
  private readonly timer: NodeJS.Timeout;

  /** `headers`: beside the stream's own (a session's id). */
  constructor(headers: Record<string, string> = {}) {
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      cancel: () => this.closed(),
    });
    this.response = new Response(body, {
      status: 200,
      headers: {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
        ...headers,
      },
    });
    // Only into a stream being read: one nobody reads does not grow by a comment at each tick.
    this.timer = setInterval(() => {
      if ((this.controller.desiredSize ?? 0) > 0) this.controller.enqueue(keepAlive);
    }, keepAliveMs);
    this.timer.unref();
  }

  /** `text`: `message` as it was written already; an event's data if it is one line. */
  write(message: JSONRPCMessage, text?: string): void {
    if (!this.open) return;
    const line = oneLine(text);
    const event = line === undefined ? sseEvent(message) : sseData(line);
    this.controller.enqueue(this.encoder.encode(event));
  }

  end(last?: JSONRPCMessage, text?: string): void {
    if (!this.open) return;
    if (last !== undefined) this.write(last, text);
    this.controller.close();
    this.closed();
  }

  private closed(): void {
    if (!this.open) return;
    this.open = false;
    clearInterval(this.timer);
    this.onclose?.();
  }
}
