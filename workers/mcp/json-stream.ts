import { concat } from '../../shared/protocol/body.ts';
import { assemble, ChunkText, Received, type Rewritten, shifted } from '../../shared/protocol/received.ts';

/**
 * The JSON answer to a POSTed request: one message (the transport says so), held whole, at most
 * `max` bytes, and inspected once at its end; nothing is scanned for where messages end.
 */
export function jsonBody(
  inspect: (data: string) => Rewritten,
  max = 16 * 1024 * 1024,
): TransformStream<Uint8Array, Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  return new TransformStream({
    transform(chunk, controller) {
      parts.push(chunk);
      size += chunk.byteLength;
      if (size > max) controller.error(new Error(`a JSON message exceeds ${max} bytes`));
    },
    flush(controller) {
      if (size === 0) return;
      const bytes = concat(parts, size);
      const text = new TextDecoder().decode(bytes);
      // As many characters as bytes: every one ASCII, so a piece of the text is that piece of the bytes.
      const ascii = text.length === bytes.length ? bytes : undefined;
      emit({ text, ascii, bytes: () => bytes }, inspect, controller);
    },
  });
}

/**
 * A standing JSON answer (a 2026-07-28 listen), rewritten message by message as it streams:
 * one message per line, the stream left open, so nothing waits for its end. A message is
 * complete when its brackets close outside strings, however it is spread over lines or
 * chunks; `inspect` gets each one (null drops it), and the space between passes as it is.
 * A message kept as it is passes as the bytes that came when they were ASCII: a 1 MiB result is
 * decoded once, for `inspect`, and not encoded again. Memory: one message, at most `max` bytes.
 */
export function jsonFilter(
  inspect: (data: string) => Rewritten,
  max = 16 * 1024 * 1024,
): TransformStream<Uint8Array, Uint8Array> {
  const chunks = new ChunkText();
  const message = new Received();
  const scan = new MessageScanner();
  return new TransformStream({
    transform(chunk, controller) {
      const { text, bytes } = chunks.read(chunk);
      let start = 0;
      for (const end of scan.ends(text)) {
        message.add(text, bytes, start, end);
        emit(message.take(), inspect, controller);
        start = end;
      }
      message.add(text, bytes, start);
      if (message.size > max) controller.error(new Error(`a JSON message exceeds ${max} bytes`));
    },
    flush(controller) {
      message.add(chunks.end(), undefined);
      if (message.size > 0) emit(message.take(), inspect, controller);
    },
  });
}

/** One message out: as the bytes that came unless `inspect` rewrites (or drops) it; the space before it kept. */
function emit(
  { text, ascii, bytes }: { text: string; ascii: Uint8Array | undefined; bytes: () => Uint8Array },
  inspect: (data: string) => Rewritten,
  controller: TransformStreamDefaultController<Uint8Array>,
): void {
  const body = text.trimStart();
  const lead = text.length - body.length;
  const out = body === '' ? undefined : inspect(body);
  if (out === undefined) controller.enqueue(bytes());
  else if (out === null) {
    if (lead > 0) controller.enqueue(new TextEncoder().encode(text.slice(0, lead)));
  } else if (typeof out === 'string') controller.enqueue(new TextEncoder().encode(text.slice(0, lead) + out));
  else controller.enqueue(assemble(text, ascii, [{ start: 0, end: lead }, ...shifted(out.pieces, lead)]));
}

const [openBrace, closeBrace, openBracket, closeBracket, quote, backslash] = [123, 125, 91, 93, 34, 92];

/**
 * Finds where top-level JSON values end, strings and escapes respected, across chunks. A
 * string is crossed by searching for its next quote (the runtime's fast search): an odd run
 * of backslashes before it escapes it, the run perhaps begun in the previous chunk.
 */
class MessageScanner {
  private depth = 0;
  private inString = false;
  /** Inside a string at a chunk's end: whether it ended in an odd run of backslashes. */
  private oddRun = false;

  /** Just past each value that closes in this text. */
  ends(text: string): number[] {
    const ends: number[] = [];
    let i = 0;
    while (i < text.length) {
      if (!this.inString) {
        const c = text.charCodeAt(i++);
        if (c === quote) this.inString = true;
        else if (c === openBrace || c === openBracket) this.depth += 1;
        else if ((c === closeBrace || c === closeBracket) && --this.depth === 0) ends.push(i);
        continue;
      }
      const q = text.indexOf('"', i);
      const stop = q === -1 ? text.length : q;
      let k = stop - 1;
      while (k >= i && text.charCodeAt(k) === backslash) k--;
      // The run reaching the chunk's start goes on from the previous chunk's end.
      const odd = ((stop - 1 - k) % 2 === 1) !== (k < i && i === 0 && this.oddRun);
      if (q === -1) {
        this.oddRun = odd;
        break;
      }
      this.oddRun = false;
      if (!odd) this.inString = false;
      i = q + 1;
    }
    return ends;
  }
}
