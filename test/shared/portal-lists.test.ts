import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDocument, type ServerDocument } from '../../shared/policy/document.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import { filterPortalList, filterPortalListText, type PortalLists } from '../../shared/portal/lists.ts';
import { naming } from '../../shared/portal/names.ts';
import { joined } from '../../shared/protocol/json-text.ts';

function doc(name: string, policy: Record<string, unknown>): ServerDocument {
  const parsed = parseDocument({ version: 1, name, access: { groups: ['g1', 'g2'] }, policy });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  return parsed.document;
}

const patterns = fc.subarray(['*', 'a', 'read_*', 'b', 'alpha__*', 'beta__read_*', 'file:///ok/*', 'p*']);
const rules = fc.record({ allow: patterns, deny: patterns });
/** A document: its rules for everyone, one group's grant, perhaps a rename or a description of its own. */
const policies = fc.record({
  tools: rules,
  prompts: rules,
  resources: rules,
  grants: fc.constantFrom([], [{ groups: ['g2'], tools: { allow: ['*'] }, prompts: { allow: ['*'] } }]),
  overrides: fc.constantFrom(
    {},
    { a: { name: 'renamed' } },
    { read_x: { description: 'Reviewed' } },
    { alpha__a: { name: 'alpha__first' } },
  ),
});

const names = [
  'alpha__a',
  'alpha__read_x',
  'alpha__b',
  'beta__a',
  'beta__read_x',
  'gamma__p1',
  'delta__a',
  'a',
  'read_x',
  'alpha__beta__c',
  'alpha__',
  '',
  'portal://alpha/file:///ok/1',
  'portal://beta/file:///secret',
  'file:///ok/2',
];
const item = (key: string, name: unknown) => ({
  [key]: name,
  description: `the "${String(name)}" item {[`,
  inputSchema: { type: 'object', properties: { name: { type: 'string' } } },
});

const methods = {
  'tools/list': ['tools', 'name'],
  'prompts/list': ['prompts', 'name'],
  'resources/list': ['resources', 'uri'],
  'resources/templates/list': ['resourceTemplates', 'uriTemplate'],
} as const;

const setups = fc.record({
  members: fc.record({ alpha: policies, beta: policies, gamma: policies }),
  portal: fc.option(policies, { nil: undefined }),
  unprefixed: fc.constantFrom(undefined, 'alpha', 'beta'),
  groups: fc.subarray(['g1', 'g2'], { minLength: 1 }),
});

/** The text path's answer and snapshot parts, against the parsed path's. */
function expectSame(
  at: PortalLists,
  method: keyof typeof methods,
  result: Record<string, unknown>,
  space?: number,
) {
  const message = { jsonrpc: '2.0', id: 3, result };
  const text = JSON.stringify(message, null, space);
  const seenParsed: unknown[] = [];
  const expected = filterPortalList(at, method, structuredClone(result), (part) =>
    seenParsed.push([part.doc.name, part.listed()]),
  );
  const read = filterPortalListText(at, method, text);
  expect(read).toBeDefined();
  expect(JSON.parse(read ? joined(text, read.spliced) : '')).toEqual({ ...message, result: expected });
  expect(read?.parts.map((part) => [part.doc.name, part.listed()])).toEqual(seenParsed);
}

describe('a portal list filtered from its text gives what the parsed filter gives', () => {
  it('for random members, portals, callers, lists and formatting', () => {
    fc.assert(
      fc.property(
        setups,
        fc.constantFrom(...(Object.keys(methods) as (keyof typeof methods)[])),
        fc.array(fc.oneof(fc.constantFrom(...names), fc.constant(7)), { maxLength: 12 }),
        fc.constantFrom<number | undefined>(undefined, 2),
        fc.boolean(),
        (setup, method, listed, space, scoped) => {
          const principal: Principal = { subject: 'p', groups: setup.groups, method: 'api_key' };
          const at: PortalLists = {
            members: new Map(
              Object.entries(setup.members).map(([name, policy]) => [name, doc(name, policy)]),
            ),
            principal,
            naming: naming(setup.unprefixed),
            portal: setup.portal && doc('portal', setup.portal),
          };
          const [field, key] = methods[method];
          const result = {
            [field]: listed.map((name) => item(key, name)),
            ...(scoped ? { cacheScope: 'shared' } : {}),
          };
          expectSame(at, method, result, space);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('reads a run of one member’s names as the naming reads them, an empty own name and an unprefixed member included', () => {
    const members = new Map([
      ['alpha', doc('alpha', { tools: { allow: ['*'] } })],
      ['beta', doc('beta', { tools: { allow: ['*'] } })],
    ]);
    const principal: Principal = { subject: 'p', groups: ['g1'], method: 'api_key' };
    for (const unprefixed of [undefined, 'alpha', 'beta']) {
      const at: PortalLists = { members, principal, naming: naming(unprefixed), portal: undefined };
      const names = ['alpha__a', 'alpha__', 'alpha__b__c', 'a', 'beta__a', 'beta__', 'alpha__x'];
      expectSame(at, 'tools/list', { tools: names.map((name) => item('name', name)) });
    }
  });

  it('keeps what passes as the bytes that came, and re-serialises only what is renamed on the way', () => {
    const at: PortalLists = {
      members: new Map([
        ['alpha', doc('alpha', { tools: { allow: ['*'] }, overrides: { b: { name: 'second' } } })],
        ['beta', doc('beta', { tools: { allow: ['a'] } })],
      ]),
      principal: { subject: 'p', groups: ['g1'], method: 'api_key' },
      naming: naming(),
      portal: undefined,
    };
    const tools = ['alpha__a', 'alpha__b', 'beta__a', 'beta__z', 'gamma__a'].map((name) =>
      item('name', name),
    );
    const text = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools } });
    const read = filterPortalListText(at, 'tools/list', text);
    const pieces = read?.spliced.pieces ?? [];
    const rewritten = pieces.filter((piece) => typeof piece === 'string' && piece.length > 1);
    expect(rewritten.map((piece) => JSON.parse(piece as string).name)).toEqual(['alpha__second']);
    expect(
      JSON.parse(joined(text, read?.spliced ?? { pieces: [] })).result.tools.map(
        (t: { name: string }) => t.name,
      ),
    ).toEqual(['alpha__a', 'alpha__second', 'beta__a']);
  });

  it('parses a list it cannot read exactly: a repeated name in one tool', () => {
    const at: PortalLists = {
      members: new Map([['alpha', doc('alpha', { tools: { allow: ['a'] } })]]),
      principal: { subject: 'p', groups: ['g1'], method: 'api_key' },
      naming: naming(),
      portal: undefined,
    };
    const text = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"alpha__a","name":"alpha__exec"}]}}';
    expect(filterPortalListText(at, 'tools/list', text)).toBeUndefined();
  });
});
