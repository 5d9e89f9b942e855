import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../workers/mcp/read.ts';

const encode = (text: string) => new TextEncoder().encode(text);

/** Property-based fuzzing of the edge's strict parser: whatever arrives, it answers, and never lies. */
describe('parseMessage under fuzzing', () => {
  it('never throws on any bytes, and accepts only what parses as one JSON object', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const parsed = parseMessage(bytes);
        if (parsed.ok) expect(Array.isArray(parsed.message)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on any JSON value; what it accepts survives re-serialisation unchanged', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const parsed = parseMessage(encode(JSON.stringify(value)));
        if (!parsed.ok) return;
        const again = parseMessage(encode(JSON.stringify(parsed.message)));
        expect(again).toEqual(parsed);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads the method and tool name exactly as JSON.parse does, whatever surrounds them', () => {
    const message = fc.record({
      jsonrpc: fc.constant('2.0'),
      id: fc.oneof(fc.integer(), fc.string({ maxLength: 20 })),
      method: fc.constantFrom('tools/call', 'tools/list', 'ping', 'prompts/get'),
      params: fc.record({
        name: fc.string({ maxLength: 30 }),
        arguments: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })),
      }),
    });
    fc.assert(
      fc.property(message, (m) => {
        const parsed = parseMessage(encode(JSON.stringify(m)));
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        const forwarded = JSON.parse(JSON.stringify(parsed.message));
        expect(forwarded.method).toBe(m.method);
        expect(forwarded.params.name).toBe(m.params.name);
      }),
      { numRuns: 1000 },
    );
  });
});
