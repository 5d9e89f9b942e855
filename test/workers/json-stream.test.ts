import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonFilter } from '../../workers/mcp/json-stream.ts';

const encoder = new TextEncoder();

async function run(
  chunks: Uint8Array[],
  inspect: (data: string) => string | null | undefined,
  out: Uint8Array[] = [],
) {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  }).pipeThrough(jsonFilter(inspect));
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    out.push(chunk);
    text += decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}

const body =
  '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","description":"} ] \\" \\\\"},{"name":"secret"}]}}\n' +
  '{"jsonrpc":"2.0","method":"drop me","params":{"text":"ünïcode {["}}\n' +
  '{"jsonrpc":"2.0","id":2,"result":{"text":"ünïcode \\\\\\" ✓"}}\n';
const inspect = (data: string) => {
  const message = JSON.parse(data) as { method?: string; result?: { tools?: { name: string }[] } };
  if (message.method === 'drop me') return null;
  if (!message.result?.tools) return undefined;
  return JSON.stringify({
    ...message,
    result: { tools: message.result.tools.filter((t) => t.name !== 'secret') },
  });
};
const want = body
  .replace(',{"name":"secret"}', '')
  .replace('{"jsonrpc":"2.0","method":"drop me","params":{"text":"ünïcode {["}}', '');

describe('a JSON answer read message by message', () => {
  it('gives the same output for any partition into chunks, strings with brackets and escapes included', async () => {
    const bytes = encoder.encode(body);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 10 }),
        async (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
          expect(
            await run(
              points.slice(1).map((end, i) => bytes.slice(points[i], end)),
              inspect,
            ),
          ).toBe(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('passes a kept ASCII message as the bytes that came, and encodes one with other characters again', async () => {
    const ascii = encoder.encode(body.replace(/[^ -~\n\\]/g, '?'));
    const out: Uint8Array[] = [];
    await run([ascii], inspect, out);
    // The last message, kept (with the newline before it), and the newline after it: slices of the very bytes that came.
    expect(out.filter((chunk) => chunk.buffer === ascii.buffer)).toHaveLength(2);
    const other: Uint8Array[] = [];
    expect(await run([encoder.encode(body)], inspect, other)).toBe(want);
    expect(other.filter((chunk) => chunk.buffer === ascii.buffer)).toHaveLength(0);
  });
});
