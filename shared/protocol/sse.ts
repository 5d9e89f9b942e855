import type { JSONRPCMessage } from './jsonrpc.ts';

/** One message as one SSE event, as the SDK's transports write them. */
export function sseEvent(message: JSONRPCMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

/**
 * A streaming filter over Server-Sent Events: each complete event's data may be rewritten
 * by `rewrite` (undefined: keep it; null: drop the event). Events split across chunks at any byte are
 * reassembled; memory is bounded by the largest event, never by the stream's length.
 * Line endings are normalised to `\n`, which SSE allows.
 */
export function sseFilter(
  rewrite: (data: string) => string | null | undefined,
  maxEventBytes = 16 * 1024 * 1024,
): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  /** Normalised text of the event being received; never rescanned, so cost is linear in bytes. */
  let pending = '';
  /** A trailing \r may be the first half of \r\n: held until the next chunk (or the end). */
  let carry = '';

  const receive = (
    text: string,
    controller: TransformStreamDefaultController<Uint8Array>,
    final: boolean,
  ) => {
    let fresh = carry + text;
    carry = '';
    if (!final && fresh.endsWith('\r')) {
      carry = '\r';
      fresh = fresh.slice(0, -1);
    }
    const searchFrom = Math.max(0, pending.length - 1);
    const combined = pending + fresh.replace(/\r\n?/g, '\n');
    if (combined.indexOf('\n\n', searchFrom) === -1) {
      pending = combined;
      return;
    }
    const end = combined.lastIndexOf('\n\n');
    for (const event of combined.slice(0, end).split('\n\n')) {
      const kept = filterEvent(event, rewrite);
      if (kept !== null) controller.enqueue(encoder.encode(`${kept}\n\n`));
    }
    pending = combined.slice(end + 2);
  };

  return new TransformStream({
    transform(chunk, controller) {
      receive(decoder.decode(chunk, { stream: true }), controller, false);
      if (pending.length > maxEventBytes)
        controller.error(new Error(`an SSE event exceeds ${maxEventBytes} bytes`));
    },
    flush(controller) {
      receive(decoder.decode(), controller, true);
      // A last event the stream ended without a blank line after is filtered like the others.
      const last = pending.length > 0 ? filterEvent(pending, rewrite) : null;
      if (last !== null) controller.enqueue(encoder.encode(last));
    },
  });
}

function filterEvent(event: string, rewrite: (data: string) => string | null | undefined): string | null {
  const lines = event.split('\n');
  const data = lines
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5));
  if (data.length === 0) return event;
  const replaced = rewrite(data.join('\n'));
  if (replaced === null) return null;
  if (replaced === undefined) return event;
  const others = lines.filter((line) => !line.startsWith('data:'));
  return [...others, ...replaced.split('\n').map((line) => `data: ${line}`)].join('\n');
}
