import type { Readable } from 'node:stream';
import { redact } from '../../shared/security/redact.ts';
import type { Logger } from '../log.ts';

export interface StderrLimits {
  maxLineChars: number;
  linesPerSecond: number;
}

export const defaultStderrLimits: StderrLimits = { maxLineChars: 2048, linesPerSecond: 100 };

/** Splits a text stream into lines, keeping at most `maxChars` of each: memory stays bounded whatever the child writes. */
export function boundedLines(
  stream: Readable,
  maxChars: number,
  onLine: (line: string, truncated: boolean) => void,
) {
  let pending = '';
  let truncated = false;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf('\n', start);
      if (!truncated) {
        pending += chunk.slice(start, newline === -1 ? undefined : newline);
        if (pending.length > maxChars) {
          pending = pending.slice(0, maxChars);
          truncated = true;
        }
      }
      if (newline === -1) return;
      onLine(pending.replace(/\r$/, ''), truncated);
      pending = '';
      truncated = false;
      start = newline + 1;
    }
  });
}

/** The last few lines a child wrote to stderr: why it failed, when it fails before it is ready. */
export class StderrTail {
  private readonly lines: string[] = [];
  private readonly keep: number;

  constructor(keep = 5) {
    this.keep = keep;
  }

  push(line: string): void {
    if (line.trim() === '') return;
    this.lines.push(line.length > 300 ? `${line.slice(0, 300)}…` : line);
    if (this.lines.length > this.keep) this.lines.shift();
  }

  get text(): string {
    return this.lines.join(' | ');
  }
}

/**
 * Child stderr goes to the bridge's log one line at a time, each line truncated and
 * the rate capped, so that a chatty or hostile child cannot flood the log. The tail keeps
 * the last lines whatever the rate.
 */
export function forwardStderr(
  stream: Readable,
  log: Logger,
  onDropped: () => void,
  limits: StderrLimits = defaultStderrLimits,
  tail?: StderrTail,
): void {
  let windowStart = 0;
  let inWindow = 0;
  boundedLines(stream, limits.maxLineChars, (line, truncated) => {
    tail?.push(line);
    const now = Date.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      inWindow = 0;
    }
    inWindow += 1;
    if (inWindow > limits.linesPerSecond) {
      onDropped();
      return;
    }
    log.log('info', 'child stderr', { line: redact(line), truncated });
  });
}
