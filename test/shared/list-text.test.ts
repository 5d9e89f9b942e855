import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDocument, type ServerDocument } from '../../shared/policy/document.ts';
import { filterListResult } from '../../shared/policy/gate.ts';
import { filterListText } from '../../shared/policy/list-text.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import { joined } from '../../shared/protocol/json-text.ts';

function doc(policy: Record<string, unknown>): ServerDocument {
  const parsed = parseDocument({ version: 1, name: 'big', access: { groups: ['viewers'] }, policy });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  return parsed.document;
}

const viewer: Principal = { subject: 'alice', groups: ['viewers'], method: 'api_key' };
const operator: Principal = { subject: 'bob', groups: ['viewers', 'operators'], method: 'api_key' };
const policy = doc({
  tools: { allow: ['read_*'], deny: ['read_secret*'] },
  grants: [{ groups: ['operators'], tools: { allow: ['write_*'] } }],
});

/** A list long enough for the edge to remember its reading (several times 16 KB). */
const names = Array.from(
  { length: 300 },
  (_, i) => `${i % 3 === 0 ? 'write' : 'read'}_${String(i).padStart(3, '0')}`,
);
const tool = (name: string) => ({
  name,
  description: `The ${name} tool, with "quotes" and {brackets} in its text`,
  inputSchema: { type: 'object', properties: { path: { type: 'string' } } },
});

/** What the client gets: the text filtered, parsed; it must equal the parsed filter's answer. */
function seen(p: Principal, text: string): unknown {
  const filtered = filterListText(policy, p, 'tools/list', text);
  return filtered === undefined ? undefined : JSON.parse(joined(text, filtered.spliced));
}

function expected(p: Principal, text: string): unknown {
  const message = JSON.parse(text);
  return { ...message, result: filterListResult(policy, p, 'tools/list', message.result) };
}

describe('a long list read again: the same text reads the same, any other text is read afresh', () => {
  it('filters a list listed again, to each person by their own grants, wherever the list stands in the answer', () => {
    const tools = names.map(tool);
    const answers = [
      JSON.stringify({ result: { tools }, jsonrpc: '2.0', id: 1 }),
      JSON.stringify({ result: { tools }, jsonrpc: '2.0', id: 1 }),
      JSON.stringify({ jsonrpc: '2.0', id: 'a-longer-id', result: { nextCursor: 'c', tools } }),
      JSON.stringify({ result: { tools, cacheScope: 'shared' }, jsonrpc: '2.0', id: 12 }),
    ];
    for (const text of answers) {
      for (const p of [viewer, operator]) expect(seen(p, text)).toEqual(expected(p, text));
    }
    expect((seen(viewer, answers[0] ?? '') as { result: { tools: unknown[] } }).result.tools).toHaveLength(
      200,
    );
    expect((seen(operator, answers[0] ?? '') as { result: { tools: unknown[] } }).result.tools).toHaveLength(
      300,
    );
  });

  it('never answers from an earlier list when one character differs: a name, a repeated key, the text around it', () => {
    const base = JSON.stringify({ result: { tools: names.map(tool) }, jsonrpc: '2.0', id: 1 });
    const edits = fc.oneof(
      // The same length, another name: read_secret is denied, write_ is the operators'.
      fc
        .record({ at: fc.nat(names.length - 1), to: fc.constantFrom('read_sec', 'write_00', 'reads_00') })
        .map(({ at, to }) => (text: string) => {
          const from = `"name":"${names[at]}"`;
          return text.replace(from, `"name":"${to}${(names[at] ?? '').slice(to.length)}"`);
        }),
      // A second name in one tool: JSON.parse keeps the last, so the text must not be read at all.
      fc.nat(names.length - 1).map((at) => (text: string) => {
        const from = `"name":"${names[at]}"`;
        return text.replace(from, `${from},"name":"read_secret_key"`);
      }),
      // The list remembered, but the answer around it repeated or cut short.
      fc.constantFrom(
        (text: string) => text.replace('"jsonrpc"', '"result":{"tools":[]},"jsonrpc"'),
        (text: string) => text.slice(0, -1),
        (text: string) => `${text} {}`,
      ),
    );
    fc.assert(
      fc.property(edits, fc.constantFrom(viewer, operator), (edit, p) => {
        expect(seen(p, base)).toEqual(expected(p, base));
        const text = edit(base);
        let parsed: unknown;
        try {
          parsed = expected(p, text);
        } catch {
          parsed = undefined;
        }
        const shown = seen(p, text);
        // Read from its text, or left to the parser (undefined): never another answer.
        if (shown !== undefined) expect(shown).toEqual(parsed);
        if (text.includes('"read_secret_key"') || text.endsWith('{}') || !text.endsWith('}')) {
          expect(shown).toBeUndefined();
        }
      }),
      { numRuns: 120 },
    );
  });
});
