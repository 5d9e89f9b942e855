/**
 * A JSON answer, rewritten message by message as it streams: a body may carry one message, or
 * (a standing 2026-07-28 listen) one per line and stay open, so nothing waits for its end. A
 * message is complete when its brackets close outside strings, however it is spread over lines
 * or chunks; `inspect` gets each one (null drops it), and the space between passes as it is.
 * Memory: one message, at most `max` bytes, as for an SSE event.
 */
export function jsonFilter(
  inspect: (data: string) => string | null | undefined,
  max = 16 * 1024 * 1024,
): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const scan = new MessageScanner();
  const emit = (text: string, controller: TransformStreamDefaultController<Uint8Array>) => {
    const body = text.trimStart();
    const out = body === '' ? '' : inspect(body);
    const kept = text.slice(0, text.length - body.length) + (out === null ? '' : (out ?? body));
    if (kept !== '') controller.enqueue(encoder.encode(kept));
  };
  return new TransformStream({
    transform(chunk, controller) {
      for (const message of scan.push(decoder.decode(chunk, { stream: true }))) emit(message, controller);
      if (scan.pendingLength > max) controller.error(new Error(`a JSON message exceeds ${max} bytes`));
    },
    flush(controller) {
      emit(scan.rest() + decoder.decode(), controller);
    },
  });
}

/** Splits JSON text into top-level values at the bracket that closes each, strings and escapes respected. */
class MessageScanner {
  private pending = '';
  private scanned = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  get pendingLength(): number {
    return this.pending.length;
  }

  push(text: string): string[] {
    this.pending += text;
    const complete: string[] = [];
    let start = 0;
    for (let i = this.scanned; i < this.pending.length; i++) {
      const c = this.pending[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
      } else if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth += 1;
      else if ((c === '}' || c === ']') && --this.depth === 0) {
        complete.push(this.pending.slice(start, i + 1));
        start = i + 1;
      }
    }
    this.pending = this.pending.slice(start);
    this.scanned = this.pending.length;
    return complete;
  }

  rest(): string {
    const rest = this.pending;
    this.pending = '';
    this.scanned = 0;
    return rest;
  }
}
