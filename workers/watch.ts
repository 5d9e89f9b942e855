import { notification } from '../shared/jsonrpc.ts';
import { sseFilter } from '../shared/sse.ts';

const listChanged = new TextEncoder().encode(
  `event: message\ndata: ${JSON.stringify(notification('notifications/tools/list_changed'))}\n\n`,
);

/**
 * A client's standing SSE stream (GET), with `notifications/tools/list_changed` added
 * whenever the server's document changes, so that the client re-reads its tools instead of
 * calling ones that vanished. The bridge's events pass whole (realigned by the SSE
 * parser), so an added event never lands inside another.
 */
export function watchDocument(
  upstream: ReadableStream<Uint8Array>,
  changed: () => Promise<boolean>,
  everyMs: number,
): ReadableStream<Uint8Array> {
  const reader = upstream.pipeThrough(sseFilter(() => undefined)).getReader();
  let timer: ReturnType<typeof setInterval> | undefined;
  let checking = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setInterval(async () => {
        if (checking) return;
        checking = true;
        try {
          if (await changed()) controller.enqueue(listChanged);
        } catch {
          // the stream ended while a check was in flight
        } finally {
          checking = false;
        }
      }, everyMs);
    },
    async pull(controller) {
      const next = await reader.read();
      if (next.done) {
        clearInterval(timer);
        controller.close();
        return;
      }
      controller.enqueue(next.value);
    },
    async cancel(reason) {
      clearInterval(timer);
      await reader.cancel(reason);
    },
  });
}
