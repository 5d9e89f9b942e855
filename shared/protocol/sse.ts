import { joined, type Spliced } from './json-text.ts';
import type { JSONRPCMessage } from './jsonrpc.ts';
import { assemble, ChunkText, Received, type Rewritten, shifted } from './received.ts';

/** One message as one SSE event, as the SDK's transports write them. */
export function sseEvent(message: JSONRPCMessage): string {
  return sseData(JSON.stringify(message));
}

/** A message event whose data is `data`, one line of JSON (its event id first, if it has one). */
export function sseData(data: string, id?: string): string {
  return `event: message\n${id ? `id: ${id}\n` : ''}data: ${data}\n\n`;
}

type Rewrite = (data: string) => Rewritten;
type Controller = TransformStreamDefaultController<Uint8Array>;

/**
 * A streaming filter over Server-Sent Events: each complete event's data may be rewritten
 * by `rewrite` (undefined: keep it; null: drop the event). Events split across chunks at any
 * byte are reassembled; memory is bounded by the largest event, never by the stream's length.
 * Each chunk out holds whole events, so a caller may add its own between chunks.
 *
 * An event kept as it is passes as the bytes that came when they were ASCII (a 1 MiB result
 * is decoded once for `rewrite`, and not encoded again). A stream that uses CR line endings is
 * read from its first CR on with line endings normalised to `\n`, which SSE allows.
 */
export function sseFilter(
  rewrite: Rewrite,
  maxEventBytes = 16 * 1024 * 1024,
): TransformStream<Uint8Array, Uint8Array> {
  const chunks = new ChunkText();
  const event = new Received();
  let normalised: ReturnType<typeof textFilter> | undefined;
  const emit = (controller: Controller, final: boolean) => {
    const { text, ascii, bytes } = event.take();
    const body = final ? text : text.slice(0, -2);
    const kept = filterEvent(body, rewrite);
    const end = final ? '' : '\n\n';
    if (kept === null) return;
    if (kept === undefined) controller.enqueue(bytes());
    else if (typeof kept === 'string') controller.enqueue(new TextEncoder().encode(kept + end));
    else controller.enqueue(assemble(body, ascii, [...kept.pieces, end]));
  };
  return new TransformStream({
    transform(chunk, controller) {
      const { text, bytes } = chunks.read(chunk);
      if (normalised === undefined && text.includes('\r')) {
        normalised = textFilter(rewrite, maxEventBytes);
        normalised.receive(event.take().text, controller, false);
      }
      if (normalised !== undefined) return normalised.receive(text, controller, false);
      let start = 0;
      // A blank line ends an event: two newlines, the first perhaps the previous chunk's last.
      if (text.startsWith('\n') && event.endsWith('\n')) {
        event.add(text, bytes, 0, 1);
        emit(controller, false);
        start = 1;
      }
      for (let at = text.indexOf('\n\n', start); at !== -1; at = text.indexOf('\n\n', start)) {
        event.add(text, bytes, start, at + 2);
        emit(controller, false);
        start = at + 2;
      }
      event.add(text, bytes, start);
      if (event.size > maxEventBytes)
        controller.error(new Error(`an SSE event exceeds ${maxEventBytes} bytes`));
    },
    flush(controller) {
      const rest = chunks.end();
      if (normalised !== undefined) return normalised.receive(rest, controller, true);
      event.add(rest, undefined);
      if (event.size > 0) emit(controller, true);
    },
  });
}

/** The same filter over text, line endings normalised: for a stream that has shown a CR. */
function textFilter(rewrite: Rewrite, maxEventBytes: number) {
  const encoder = new TextEncoder();
  /** Normalised text of the event being received; never rescanned, so cost is linear in bytes. */
  let pending = '';
  /** A trailing \r may be the first half of \r\n: held until the next chunk (or the end). */
  let carry = '';

  const receive = (text: string, controller: Controller, final: boolean) => {
    let fresh = carry + text;
    carry = '';
    if (!final && fresh.endsWith('\r')) {
      carry = '\r';
      fresh = fresh.slice(0, -1);
    }
    const searchFrom = Math.max(0, pending.length - 1);
    const combined = pending + fresh.replace(/\r\n?/g, '\n');
    if (combined.indexOf('\n\n', searchFrom) !== -1) {
      const end = combined.lastIndexOf('\n\n');
      for (const event of combined.slice(0, end).split('\n\n')) {
        const kept = textOf(event, filterEvent(event, rewrite));
        if (kept !== null) controller.enqueue(encoder.encode(`${kept}\n\n`));
      }
      pending = combined.slice(end + 2);
    } else pending = combined;
    if (pending.length > maxEventBytes)
      controller.error(new Error(`an SSE event exceeds ${maxEventBytes} bytes`));
    if (!final) return;
    // A last event the stream ended without a blank line after is filtered like the others.
    const last = pending.length > 0 ? textOf(pending, filterEvent(pending, rewrite)) : null;
    if (last !== null) controller.enqueue(encoder.encode(last));
  };
  return { receive };
}

const isData = (line: string) => line.startsWith('data:');
const payloadAt = (line: string) => (line.startsWith('data: ') ? 6 : 5);

/**
 * One event as `rewrite` leaves it: kept (undefined), dropped (null), or its new text. Data
 * given back as pieces of a single data line stays pieces of the event, that line in place of
 * the old; other data lines (and the rare piece with a newline) are joined as text.
 */
function filterEvent(event: string, rewrite: Rewrite): string | Spliced | null | undefined {
  const lines = event.split('\n');
  const data = lines.filter(isData);
  if (data.length === 0) return undefined;
  const replaced = rewrite(data.map((line) => line.slice(payloadAt(line))).join('\n'));
  if (replaced === null || replaced === undefined) return replaced;
  const others = lines.filter((line) => !isData(line));
  const line = data[0] ?? '';
  const oneLine =
    typeof replaced !== 'string' &&
    data.length === 1 &&
    replaced.pieces.every((p) => typeof p !== 'string' || !p.includes('\n'));
  if (oneLine) {
    const index = lines.indexOf(line);
    const start = lines.slice(0, index).reduce((at, before) => at + before.length + 1, 0);
    const head = others.map((other) => `${other}\n`).join('');
    return { pieces: [`${head}data: `, ...shifted(replaced.pieces, start + payloadAt(line))] };
  }
  const text = typeof replaced === 'string' ? replaced : joined(line.slice(payloadAt(line)), replaced);
  return [...others, ...text.split('\n').map((l) => `data: ${l}`)].join('\n');
}

/** An event's new text, as the text path writes it. */
function textOf(event: string, kept: string | Spliced | null | undefined): string | null {
  if (kept === undefined || kept === null) return kept === undefined ? event : null;
  return typeof kept === 'string' ? kept : joined(event, kept);
}
