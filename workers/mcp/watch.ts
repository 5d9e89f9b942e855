import { type JSONRPCMessage, notification, paramsOf } from '../../shared/protocol/jsonrpc.ts';
import { listChangedFilters, metaKeys } from '../../shared/protocol/revision.ts';
import { sseEvent, sseFilter } from '../../shared/protocol/sse.ts';

function events(messages: JSONRPCMessage[]): Uint8Array {
  return new TextEncoder().encode(messages.map(sseEvent).join(''));
}

/** What a 2025 session's GET stream gets when the document changes: its tool list may have. */
export const sessionChanges = events([notification('notifications/tools/list_changed')]);

/**
 * What a 2026-07-28 `subscriptions/listen` stream gets: a change notification for each list the
 * client subscribed to (a document decides over tools, prompts and resources alike), tagged
 * with the subscription's id.
 */
export function listenChanges(listen: JSONRPCMessage): Uint8Array {
  const asked = (paramsOf(listen)?.notifications ?? {}) as Record<string, unknown>;
  const id = 'id' in listen ? listen.id : undefined;
  const messages = Object.entries(listChangedFilters)
    .filter(([, key]) => asked[key] === true)
    .map(([kind]) =>
      notification(`notifications/${kind}/list_changed`, { _meta: { [metaKeys.subscriptionId]: id } }),
    );
  return events(messages);
}

/**
 * A client's standing SSE stream (a 2025 GET, a 2026-07-28 listen), with `changes` added
 * whenever the server's document changes, so that the client re-reads its lists instead of
 * calling tools that vanished. The bridge's events pass whole (realigned by the SSE
 * parser), so an added event never lands inside another.
 */
export function watchDocument(
  upstream: ReadableStream<Uint8Array>,
  changed: () => Promise<boolean>,
  everyMs: number,
  changes: Uint8Array,
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
          if ((await changed()) && changes.byteLength > 0) controller.enqueue(changes);
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
