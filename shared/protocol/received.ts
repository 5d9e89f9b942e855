import { concat } from './body.ts';
import { joined, type Span, type Spliced } from './json-text.ts';

/**
 * A stream's chunks read as text, remembering which came as ASCII: in those, a character is a
 * byte, so a piece of the text is the same piece of the bytes. Text is searched (a newline, a
 * quote: the runtime's fast search), and what passes unchanged passes as the bytes that came.
 */
export class ChunkText {
  private readonly decoder = new TextDecoder();
  /** Whether the previous chunk ended on a character's end (its last byte ASCII). */
  private aligned = true;

  read(chunk: Uint8Array): { text: string; bytes: Uint8Array | undefined } {
    const text = this.decoder.decode(chunk, { stream: true });
    const ascii = this.aligned && text.length === chunk.length;
    this.aligned = chunk.length === 0 || (chunk[chunk.length - 1] ?? 0) < 0x80;
    return { text, bytes: ascii ? chunk : undefined };
  }

  end(): string {
    return this.decoder.decode();
  }
}

/**
 * The text of one event or message being received, in pieces, with its bytes while every
 * piece came as ASCII (else it is encoded again if kept). Joined once when it is complete.
 */
export class Received {
  private texts: string[] = [];
  private bytes: Uint8Array[] | undefined = [];
  size = 0;

  /** A piece of a chunk: [from, to) of its text, and of its bytes when it came as ASCII. */
  add(text: string, bytes: Uint8Array | undefined, from = 0, to = text.length): void {
    if (from === to) return;
    this.texts.push(text.slice(from, to));
    if (bytes === undefined) this.bytes = undefined;
    else this.bytes?.push(bytes.subarray(from, to));
    this.size += to - from;
  }

  /** Whether the text received so far ends with `c`. */
  endsWith(c: string): boolean {
    return this.texts.at(-1)?.endsWith(c) === true;
  }

  /**
   * The whole text, its bytes as they came when ASCII (`ascii`), its bytes in any case, and a
   * fresh start. Bytes that came as ASCII are joined and decoded once: the runtime joins strings
   * slower than it decodes.
   */
  take(): { text: string; ascii: Uint8Array | undefined; bytes: () => Uint8Array } {
    const { texts, bytes: parts } = this;
    this.texts = [];
    this.bytes = [];
    this.size = 0;
    if (parts === undefined) {
      const text = texts.join('');
      return { text, ascii: undefined, bytes: () => new TextEncoder().encode(text) };
    }
    const bytes = concat(parts);
    const text = texts.length === 1 ? (texts[0] as string) : new TextDecoder().decode(bytes);
    return { text, ascii: bytes, bytes: () => bytes };
  }
}

/** What a filter makes of one message: kept (undefined), dropped (null), new text, or pieces of it. */
export type Rewritten = string | Spliced | null | undefined;

/** Spans moved by `offset`: pieces of a part of a text, as pieces of the whole. */
export function shifted(pieces: readonly (string | Span)[], offset: number): (string | Span)[] {
  return pieces.map((piece) =>
    typeof piece === 'string' ? piece : { start: piece.start + offset, end: piece.end + offset },
  );
}

/**
 * Pieces of `text` as bytes: spans copied from the bytes that came when they were ASCII (a
 * character is a byte), strings encoded; else the joined text encoded. One chunk out.
 */
export function assemble(
  text: string,
  ascii: Uint8Array | undefined,
  pieces: readonly (string | Span)[],
): Uint8Array {
  const encoder = new TextEncoder();
  if (ascii === undefined) return encoder.encode(joined(text, { pieces }));
  return concat(
    pieces.map((piece) =>
      typeof piece === 'string' ? encoder.encode(piece) : ascii.subarray(piece.start, piece.end),
    ),
  );
}
