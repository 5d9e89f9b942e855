/** A line longer than the server's `maxLineBytes`: the child is ended, its sessions told why. */
export class LineTooLong extends Error {
  constructor(limit: number) {
    super(`the MCP server wrote a line longer than ${limit} bytes`);
    this.name = 'LineTooLong';
  }
}

/** A line of JSON that is not a JSON-RPC 2.0 message: dropped and counted, as a line that is not JSON. */
export class NotAMessage extends Error {
  constructor() {
    super('the MCP server wrote a line that is not a JSON-RPC 2.0 message');
    this.name = 'NotAMessage';
  }
}

const newline = 0x0a;

/**
 * Newline-delimited text from a byte stream (a child's stdout). Each byte is searched once and a
 * line that came in many chunks is joined once: a 1 MiB line in 64 KB chunks costs one copy, where
 * joining the buffer on every chunk and searching it from the start again costs sixteen.
 */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;
  private readonly maxLineBytes: number;

  constructor(maxLineBytes: number) {
    this.maxLineBytes = maxLineBytes;
  }

  /**
   * Each line `chunk` completes, without its `\n` (or `\r\n`), to `online` in order; then throws
   * `LineTooLong` if the line still open is past the bound.
   */
  push(chunk: Buffer, online: (line: string) => void): void {
    let start = 0;
    for (let end = chunk.indexOf(newline); end !== -1; end = chunk.indexOf(newline, start)) {
      this.take(chunk, start, end);
      online(this.line());
      start = end + 1;
    }
    this.take(chunk, start, chunk.length);
  }

  clear(): void {
    this.parts = [];
    this.size = 0;
  }

  private take(chunk: Buffer, start: number, end: number): void {
    if (end === start) return;
    this.size += end - start;
    if (this.size > this.maxLineBytes) {
      this.clear();
      throw new LineTooLong(this.maxLineBytes);
    }
    this.parts.push(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end));
  }

  private line(): string {
    const whole = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
    this.clear();
    if (whole === undefined) return '';
    const end = whole[whole.length - 1] === 0x0d ? whole.length - 1 : whole.length;
    return whole.toString('utf8', 0, end);
  }
}

/**
 * `text` if it can travel as one line as it is: no `\n`, and no `\r` either, which an SSE stream
 * and some stdio readers also take for the end of a line. JSON text has them only as whitespace.
 */
export function oneLine(text: string | undefined): string | undefined {
  return text === undefined || text.includes('\n') || text.includes('\r') ? undefined : text;
}
