import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sseFilter } from '../../shared/protocol/sse.ts';

const encoder = new TextEncoder();

async function run(
  chunks: Uint8Array[],
  rewrite: (data: string) => string | null | undefined,
  max?: number,
  out: Uint8Array[] = [],
): Promise<string> {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  }).pipeThrough(sseFilter(rewrite, max));
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    out.push(chunk);
    text += decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}

const hide = (data: string) => {
  const message = JSON.parse(data) as { id?: number; result?: { tools?: { name: string }[] } };
  if (message.id !== 7 || !message.result?.tools) return undefined;
  return JSON.stringify({
    ...message,
    result: { tools: message.result.tools.filter((t) => t.name !== 'get-env') },
  });
};

const stream =
  ': keepalive\n\n' +
  'event: message\nid: 1\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n' +
  'event: message\r\nid: 2\r\ndata: {"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo"},{"name":"get-env"},{"name":"ünïcode"}]}}\r\n\r\n';
const expected =
  ': keepalive\n\n' +
  'event: message\nid: 1\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n' +
  'event: message\nid: 2\ndata: {"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo"},{"name":"ünïcode"}]}}\n\n';

describe('SSE filter', () => {
  it('rewrites the data of matching events and passes the rest', async () => {
    expect(await run([encoder.encode(stream)], hide)).toBe(expected);
  });

  it('gives the same output whatever byte the stream is split at', async () => {
    const bytes = encoder.encode(stream);
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(await run([bytes.slice(0, cut), bytes.slice(cut)], hide), `split at byte ${cut}`).toBe(expected);
    }
  });

  it('gives the same output for any partition into chunks', async () => {
    const bytes = encoder.encode(stream);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }),
        async (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
          const chunks = points.slice(1).map((end, i) => bytes.slice(points[i], end));
          expect(await run(chunks, hide)).toBe(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('fails the stream instead of buffering an endless event', async () => {
    const endless = Array.from({ length: 20 }, () => encoder.encode(`data: ${'x'.repeat(100)}`));
    await expect(run(endless, hide, 1000)).rejects.toThrow('exceeds 1000 bytes');
  });

  it('passes kept events as they came, each chunk out whole events, however the stream is cut', async () => {
    const lines =
      ': keepalive\n\n\n' +
      'event: message\ndata: {"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"get-env"},{"name":"ünï"}]}}\n\n' +
      'event: message\ndata: {"jsonrpc":"2.0","id":8,"result":{"text":"ünïcode ✓"}}\n\n' +
      'data: {"drop":true}\n\n' +
      'data: {"jsonrpc":"2.0","method":"last, unterminated"}';
    const drop = (data: string) => (data.includes('"drop"') ? null : hide(data));
    const want = lines.replace('{"name":"get-env"},', '').replace('data: {"drop":true}\n\n', '');
    const bytes = encoder.encode(lines);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 8 }),
        async (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
          const out: Uint8Array[] = [];
          expect(
            await run(
              points.slice(1).map((end, i) => bytes.slice(points[i], end)),
              drop,
              undefined,
              out,
            ),
          ).toBe(want);
          // Every chunk out ends where an event ends: a watcher may add its own event between them.
          const decoder = new TextDecoder();
          for (const chunk of out.slice(0, -1)) expect(decoder.decode(chunk).endsWith('\n\n')).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
    // Whole and ASCII, the kept events are the very bytes that came: nothing was encoded again.
    const ascii = encoder.encode(lines.replace(/[^ -~\n\\]/g, '?'));
    const out: Uint8Array[] = [];
    await run([ascii], drop, undefined, out);
    expect(out.filter((chunk) => chunk.buffer === ascii.buffer)).toHaveLength(3);
  });
});
