import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import { sseEvent } from '../../shared/protocol/sse.ts';

/** What a 2026-07-28 request gets back: an HTTP status and one JSON-RPC message. */
export type Answer = { status: number; message: JSONRPCMessage };

/** The one writer of the 2026-07-28 path: an answer as JSON, or events on a stream. */
export function jsonAnswer(answer: Answer, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(answer.message), {
    status: answer.status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

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

  constructor() {
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      cancel: () => this.closed(),
    });
    this.response = new Response(body, {
      status: 200,
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
    });
  }

  write(message: JSONRPCMessage): void {
    if (this.open) this.controller.enqueue(this.encoder.encode(sseEvent(message)));
  }

  end(last?: JSONRPCMessage): void {
    if (!this.open) return;
    if (last !== undefined) this.write(last);
    this.controller.close();
    this.closed();
  }

  private closed(): void {
    if (!this.open) return;
    this.open = false;
    this.onclose?.();
  }
}
