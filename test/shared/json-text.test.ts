import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { objectMembers, readArray, valueEnd, withId } from '../../shared/protocol/json-text.ts';
import { isFailure, type JSONRPCMessage, peekMessage } from '../../shared/protocol/jsonrpc.ts';

describe('JSON text read without parsing it', () => {
  it('finds where any value ends, members and elements included, as JSON.parse reads them', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom<number | undefined>(undefined, 1), (value, space) => {
        const text = JSON.stringify(value, null, space);
        expect(valueEnd(text, 0)).toBe(text.length);
        if (Array.isArray(value)) {
          const elements: unknown[] = [];
          const end = readArray(text, 0, (at) => {
            const elementEnds = valueEnd(text, at);
            elements.push(JSON.parse(text.slice(at, elementEnds)));
            return elementEnds;
          });
          expect(end).toBe(text.length);
          expect(elements).toEqual(JSON.parse(text));
        } else if (typeof value === 'object' && value !== null) {
          const read = objectMembers(text, 0);
          const rebuilt = Object.fromEntries(
            read?.members.map((m) => [m.key, JSON.parse(text.slice(m.start, m.end))]) ?? [],
          );
          expect(rebuilt).toEqual(JSON.parse(text));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('says a value cut short does not end', () => {
    for (const text of ['{"a":[1,2', '"abc', '"ab\\"', '{"a":"}"']) expect(valueEnd(text, 0), text).toBe(-1);
  });
});

describe('a message renumbered in its text', () => {
  it('replaces the top-level id only, and keeps every other byte', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 4 }),
        fc.oneof(fc.integer(), fc.string()),
        fc.oneof(fc.nat(), fc.string()),
        fc.constantFrom<number | undefined>(undefined, 1),
        (params, id, next, space) => {
          const message = { jsonrpc: '2.0', params: { ...params, id: 'nested' }, id };
          const text = JSON.stringify(message, null, space);
          const renumbered = withId(text, next);
          // Compared as JSON reads it: a -0 in the message is written, and read back, as 0.
          expect(JSON.parse(renumbered ?? 'null')).toEqual(
            JSON.parse(JSON.stringify({ ...message, id: next })),
          );
          // The id is the last member: its text is the last place its JSON appears.
          const at = text.lastIndexOf(JSON.stringify(id));
          const expected =
            text.slice(0, at) + JSON.stringify(next) + text.slice(at + JSON.stringify(id).length);
          expect(renumbered).toBe(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reads nothing it cannot read as JSON.parse does', () => {
    for (const text of ['{"id":1,"id":2}', '{"id":1} x', '{"method":"ping"}', '[{"id":1}]', '{"id":1'])
      expect(withId(text, 7), text).toBeUndefined();
  });
});

describe('a message peeked at', () => {
  const payload = fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 4 });
  const messages = fc.oneof(
    fc.record({ jsonrpc: fc.constant('2.0'), id: fc.nat(), result: payload }),
    fc.record({
      result: fc.record({ content: fc.array(payload), isError: fc.boolean() }),
      jsonrpc: fc.constant('2.0'),
      id: fc.nat(),
    }),
    fc.record({
      jsonrpc: fc.constant('2.0'),
      id: fc.nat(),
      error: fc.record({ code: fc.integer(), message: fc.string() }),
    }),
    fc.record({ jsonrpc: fc.constant('2.0'), method: fc.string(), params: payload }),
    fc.record({ jsonrpc: fc.constant('2.0'), id: fc.nat(), method: fc.string(), params: payload }),
  );

  it('is what the parsed message is, whenever the peek reads it', () => {
    fc.assert(
      fc.property(messages, (message) => {
        const peek = peekMessage(JSON.stringify(message));
        if (peek === undefined) return;
        if (peek.kind === 'message') expect(peek.method).toBe((message as { method: string }).method);
        else {
          expect(peek.failed).toBe(isFailure(message as JSONRPCMessage));
          if (peek.id !== undefined) expect(JSON.parse(peek.id)).toBe((message as { id: number }).id);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('reads a resource update however its method is written, and parses what it cannot read', () => {
    const update = (method: string) => `{"jsonrpc":"2.0","method":"${method}","params":{"uri":"secret://x"}}`;
    for (const method of ['notifications/resources/updated', 'notifications/resources/upd\\u0061ted'])
      expect(peekMessage(update(method))).toEqual({
        kind: 'message',
        method: 'notifications/resources/updated',
      });
    for (const text of [
      '{"jsonrpc":"2.0","method":"notifications/progress","method":"notifications/resources/updated"}',
      '{"jsonrpc":"2.0","method":"notifications/progress","result":{}}',
      '{"result":{"isError":false,"isError":true},"jsonrpc":"2.0","id":1}',
      '{"result":{"isError":true,"content":[}',
      '[{"jsonrpc":"2.0","method":"x"}]',
    ])
      expect(peekMessage(text), text).toBeUndefined();
  });

  it('knows a 1 MiB result from its first key, without walking it', () => {
    const big = JSON.stringify({
      result: { content: [{ type: 'text', text: 'x'.repeat(1 << 20) }] },
      jsonrpc: '2.0',
      id: 1,
    });
    expect(peekMessage(big)).toEqual({ kind: 'response', failed: false });
    // Cut short after its first key: still known, so nothing past it was read.
    expect(peekMessage(big.slice(0, 40))).toEqual({ kind: 'response', failed: false });
  });
});
