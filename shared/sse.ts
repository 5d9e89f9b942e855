/**
 * A streaming filter over Server-Sent Events: each complete event's data may be rewritten
 * by `rewrite` (undefined: keep it). Events split across chunks at any byte are
 * reassembled; memory is bounded by the largest event, never by the stream's length.
 * Line endings are normalised to `\n`, which SSE allows.
 */
export function sseFilter(
  rewrite: (data: string) => string | undefined,
  maxEventBytes = 16 * 1024 * 1024,
): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffer = '';

  const emitComplete = (controller: TransformStreamDefaultController<Uint8Array>, final: boolean) => {
    // A trailing \r may be the first half of \r\n: keep it until the next chunk (or the end).
    const cut = !final && buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
    const normalised = buffer.slice(0, cut).replace(/\r\n?/g, '\n');
    const rest = buffer.slice(cut);
    const end = normalised.lastIndexOf('\n\n');
    if (end === -1) {
      buffer = normalised + rest;
      return;
    }
    for (const event of normalised.slice(0, end).split('\n\n'))
      controller.enqueue(encoder.encode(`${filterEvent(event, rewrite)}\n\n`));
    buffer = normalised.slice(end + 2) + rest;
  };

  return new TransformStream({
    transform(chunk, controller) {
      buffer += decoder.decode(chunk, { stream: true });
      emitComplete(controller, false);
      if (buffer.length > maxEventBytes)
        controller.error(new Error(`an SSE event exceeds ${maxEventBytes} bytes`));
    },
    flush(controller) {
      buffer += decoder.decode();
      emitComplete(controller, true);
      if (buffer.length > 0) controller.enqueue(encoder.encode(buffer));
    },
  });
}

function filterEvent(event: string, rewrite: (data: string) => string | undefined): string {
  const lines = event.split('\n');
  const data = lines
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5));
  if (data.length === 0) return event;
  const replaced = rewrite(data.join('\n'));
  if (replaced === undefined) return event;
  const others = lines.filter((line) => !line.startsWith('data:'));
  return [...others, ...replaced.split('\n').map((line) => `data: ${line}`)].join('\n');
}
