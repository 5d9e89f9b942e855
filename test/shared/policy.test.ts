import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDocument, type ServerDocument } from '../../shared/policy/document.ts';
import { filterListResult } from '../../shared/policy/gate.ts';
import { globMatcher, globMatches } from '../../shared/policy/glob.ts';
import { filterListText } from '../../shared/policy/list-text.ts';
import { decide, gateCall, type Principal, visibleTools } from '../../shared/policy/policy.ts';
import { joined } from '../../shared/protocol/json-text.ts';

function doc(input: Record<string, unknown>): ServerDocument {
  const parsed = parseDocument({
    version: 1,
    name: 'openshift',
    upstream: { url: 'https://bridge.test/openshift/mcp' },
    ...input,
  });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  return parsed.document;
}

const viewer: Principal = { subject: 'alice', groups: ['viewers'], method: 'api_key' };
const operator: Principal = { subject: 'bob', groups: ['viewers', 'operators'], method: 'jwt' };
const stranger: Principal = { subject: 'eve', groups: ['guests'], method: 'api_key' };
const anonymous: Principal = { subject: 'anonymous', groups: [], method: 'anonymous' };

const openshift = doc({
  access: { groups: ['viewers'] },
  policy: {
    tools: { allow: ['pods_list', 'pods_log', 'namespaces_list', 'events_list'], deny: ['pods_exec'] },
    grants: [
      { groups: ['operators'], tools: { allow: ['pods_delete', 'resources_*'], deny: ['resources_delete'] } },
    ],
    overrides: { pods_log: { name: 'read_pod_log', description: 'Read a pod log' } },
  },
});
const tools = [
  'pods_list',
  'pods_log',
  'pods_delete',
  'pods_exec',
  'namespaces_list',
  'resources_delete',
  'resources_get',
].map((name) => ({ name, description: `real ${name}` }));

describe('glob patterns', () => {
  it.each([
    ['pods_*', 'pods_list', true],
    ['pods_*', 'pods_', true],
    ['pods_*', 'pod_list', false],
    ['*', 'anything', true],
    ['p?ds', 'pods', true],
    ['p?ds', 'pds', false],
    ['*_delete', 'resources_delete', true],
    ['Pods_*', 'pods_list', false],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXbYY', false],
  ])('%s ~ %s is %s', (pattern, name, expected) => {
    expect(globMatches(pattern, name)).toBe(expected);
  });

  it('a pattern made into a test once answers as the pattern does', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '*', '?', '_'), maxLength: 6 });
    fc.assert(
      fc.property(text, text, (pattern, name) => {
        expect(globMatcher(pattern)(name), `${pattern} ~ ${name}`).toBe(globMatches(pattern, name));
      }),
      { numRuns: 2000 },
    );
  });

  it('a pattern without wildcards matches only itself', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !/[*?]/.test(s)),
        fc.string(),
        (pattern, name) => {
          expect(globMatches(pattern, name)).toBe(pattern === name);
        },
      ),
    );
  });
});

describe('the policy of a read-only OpenShift server (the lab)', () => {
  it('lists only read tools for a viewer, renamed where overridden', () => {
    expect(visibleTools(openshift, viewer, tools).map((t) => t.name)).toEqual([
      'pods_list',
      'read_pod_log',
      'namespaces_list',
    ]);
    expect(visibleTools(openshift, viewer, tools).find((t) => t.name === 'read_pod_log')?.description).toBe(
      'Read a pod log',
    );
  });

  it('lets operators delete pods, but a deny in any rule still wins', () => {
    expect(gateCall(openshift, operator, 'pods_delete')).toEqual({ allowed: true, realName: 'pods_delete' });
    expect(gateCall(openshift, operator, 'resources_delete')).toEqual({ allowed: false, reason: 'denied' });
    expect(gateCall(openshift, operator, 'pods_exec')).toEqual({ allowed: false, reason: 'denied' });
  });

  it('refuses a viewer the dangerous tools, and unknown names by default', () => {
    expect(gateCall(openshift, viewer, 'pods_delete')).toEqual({ allowed: false, reason: 'not_allowed' });
    expect(gateCall(openshift, viewer, 'pods_exec')).toEqual({ allowed: false, reason: 'denied' });
    expect(gateCall(openshift, viewer, 'resources_get')).toEqual({ allowed: false, reason: 'not_allowed' });
    expect(gateCall(openshift, viewer, 'made_up')).toEqual({ allowed: false, reason: 'not_allowed' });
  });

  it('maps a renamed tool back to its real name and hides the real one', () => {
    expect(gateCall(openshift, viewer, 'read_pod_log')).toEqual({ allowed: true, realName: 'pods_log' });
    expect(gateCall(openshift, viewer, 'pods_log')).toEqual({ allowed: false, reason: 'unknown_name' });
  });

  it('lets no one in who is not listed, and no anonymous caller unless the document says so', () => {
    expect(decide(openshift, stranger, 'tools', 'pods_list')).toEqual({
      allowed: false,
      reason: 'no_access',
    });
    expect(decide(openshift, anonymous, 'tools', 'pods_list')).toEqual({
      allowed: false,
      reason: 'no_access',
    });
    const open = doc({ access: { anonymous: true }, policy: { tools: { allow: ['*'] } } });
    expect(decide(open, anonymous, 'tools', 'pods_list')).toEqual({ allowed: true });
    // Open to anonymous callers is open to everyone: a key never buys less than no key.
    expect(decide(open, stranger, 'tools', 'pods_list')).toEqual({ allowed: true });
  });

  it('denies prompts and resources, like tools, unless a rule allows them', () => {
    const notAllowed = { allowed: false, reason: 'not_allowed' };
    expect(decide(openshift, viewer, 'prompts', 'any')).toEqual(notAllowed);
    expect(decide(openshift, operator, 'resources', 'k8s://pods/a')).toEqual(notAllowed);
    const listed = doc({ access: { groups: ['viewers'] }, policy: { prompts: { allow: ['summary'] } } });
    expect(decide(listed, viewer, 'prompts', 'summary')).toEqual({ allowed: true });
    expect(decide(listed, viewer, 'prompts', 'other')).toEqual(notAllowed);
    const granted = doc({
      access: { groups: ['viewers'] },
      policy: { grants: [{ groups: ['operators'], resources: { allow: ['k8s://pods/*'] } }] },
    });
    expect(decide(granted, operator, 'resources', 'k8s://pods/a')).toEqual({ allowed: true });
    expect(decide(granted, viewer, 'resources', 'k8s://pods/a')).toEqual(notAllowed);
  });
});

describe('resource URIs: one decision per resource, however it is spelled', () => {
  const docs = doc({
    access: { groups: ['viewers'] },
    policy: {
      resources: {
        allow: ['file:///docs/*', 'demo://resource/dynamic/text/*', 'https://Wiki.Example/*'],
        deny: ['file:///docs/secret*', 'demo://resource/dynamic/text/666'],
      },
    },
  });
  const verdict = (uri: string) => {
    const v = decide(docs, viewer, 'resources', uri);
    return v.allowed ? 'allowed' : v.reason;
  };

  it.each([
    ['file:///docs/readme.md', 'allowed'],
    ['FILE:///docs/readme.md', 'allowed'],
    ['file:///docs/%72eadme.md', 'allowed'],
    ['https://wiki.example/page', 'allowed'],
    ['https://WIKI.EXAMPLE/page', 'allowed'],
    ['demo://resource/dynamic/text/{resourceId}', 'allowed'],
    ['demo://resource/dynamic/text/1', 'allowed'],
    ['file:///etc/passwd', 'not_allowed'],
    ['file:///DOCS/readme.md', 'not_allowed'],
  ])('%s: %s', (uri, expected) => {
    expect(verdict(uri)).toBe(expected);
  });

  it.each([
    ['file:///docs/secret.txt', 'denied'],
    ['FILE:///docs/secret.txt', 'denied'],
    ['file:///docs/SECRET.txt', 'denied'],
    ['file:///docs/%73ecret.txt', 'denied'],
    ['file:///docs/%53ECRET.txt', 'denied'],
    ['demo://resource/dynamic/text/66%36', 'denied'],
    ['file:///docs/../docs/secret.txt', 'unclear_uri'],
    ['file:///docs/./secret.txt', 'unclear_uri'],
    ['file:///docs/%2e%2e/etc/passwd', 'unclear_uri'],
    ['file:///docs/%2E/secret.txt', 'unclear_uri'],
    ['file:///docs/a%2F..%2Fsecret.txt', 'unclear_uri'],
    ['file:///docs/%252e%252e/secret.txt', 'unclear_uri'],
    ['file:///docs\\secret.txt', 'unclear_uri'],
    ['file:///docs/secret.txt%00.md', 'unclear_uri'],
    ['file:///docs/secret .txt', 'unclear_uri'],
    ['file:///docs/%zz', 'unclear_uri'],
    ['docs/readme.md', 'unclear_uri'],
    ['file:///docs/secret.txt?x=1', 'denied'],
    ['file:///docs/secret.txt#top', 'denied'],
    ['file:/docs/secret.txt', 'denied'],
    ['file://localhost/docs/secret.txt', 'denied'],
    ['file://LOCALHOST/docs/secret.txt', 'denied'],
    ['file:///docs/\u017fecret.txt', 'denied'],
    ['file:///docs/SECRE%C5%A2.txt', 'allowed'],
    ['file://server/docs/secret.txt', 'unclear_uri'],
    ['file:docs/secret.txt', 'unclear_uri'],
    ['https://user@wiki.example/page', 'unclear_uri'],
    ['https://wiki.example:/page', 'unclear_uri'],
  ])('a bypass attempt, %s: %s', (uri, expected) => {
    expect(verdict(uri)).toBe(expected);
  });

  it('a deny matches any case and composition of a non-ASCII name, and patterns without a scheme', () => {
    const folded = doc({
      access: { groups: ['viewers'] },
      policy: { resources: { allow: ['file:///*'], deny: ['file:///caf%C3%A9*', '*%73alary*'] } },
    });
    const refused = { allowed: false, reason: 'denied' };
    expect(decide(folded, viewer, 'resources', 'file:///CAF%C3%89/menu')).toEqual(refused);
    expect(decide(folded, viewer, 'resources', 'file:///cafe\u0301/menu')).toEqual(refused);
    expect(decide(folded, viewer, 'resources', 'file:///hr/salary.csv')).toEqual(refused);
    expect(decide(folded, viewer, 'resources', 'file:///hr/holidays.csv')).toEqual({ allowed: true });
  });

  it('the same URI written as an IRI or escaped gets the same decision', () => {
    const iri = doc({
      access: { groups: ['viewers'] },
      policy: { resources: { allow: ['file:///*'], deny: ['file:///caf%C3%A9*'] } },
    });
    expect(decide(iri, viewer, 'resources', 'file:///café/menu')).toEqual({
      allowed: false,
      reason: 'denied',
    });
    expect(decide(iri, viewer, 'resources', 'file:///caf%c3%a9/menu')).toEqual({
      allowed: false,
      reason: 'denied',
    });
    expect(decide(iri, viewer, 'resources', 'file:///cafe/menu')).toEqual({ allowed: true });
  });
});

describe('server documents', () => {
  it('fail closed with field paths', () => {
    const bad = parseDocument({
      version: 2,
      name: 'X',
      upstream: {},
      policy: { tools: { allow: ['has space'] } },
    });
    expect(bad.ok).toBe(false);
    expect(bad.ok ? [] : bad.problems).toEqual([
      'version: Invalid input: expected 1',
      'name: Invalid string: must match pattern /^[a-z0-9][a-z0-9-]{0,62}$/',
      'upstream.url: required',
      'policy.tools.allow[0]: printable ASCII without spaces; * and ? are wildcards',
    ]);
  });

  it('refuse two tools renamed to the same name', () => {
    const bad = parseDocument({
      version: 1,
      name: 'x',
      upstream: { url: 'https://b.test/x/mcp' },
      policy: { overrides: { a: { name: 'same' }, b: { name: 'same' } } },
    });
    expect(bad.ok ? [] : bad.problems).toEqual([
      'policy.overrides.b.name: "same" is also the exposed name of "a"',
    ]);
  });
});

const name = fc.constantFrom<string>(
  'pods_list',
  'pods_delete',
  'pods_log',
  'exec',
  'a',
  'b',
  'get_env',
  'echo',
);
const pattern = fc.oneof(name, fc.constantFrom('*', 'pods_*', '*_delete', 'p?ds_list', 'e*'));
const rule = fc.record({
  allow: fc.array(pattern, { maxLength: 4 }),
  deny: fc.array(pattern, { maxLength: 3 }),
});
const groups = fc.subarray(['g1', 'g2', 'g3']);
const documents = fc
  .record({
    access: fc.record({ anonymous: fc.boolean(), groups, principals: fc.subarray(['p1', 'p2']) }),
    tools: rule,
    grants: fc.array(fc.record({ groups: fc.subarray(['g1', 'g2', 'g3'], { minLength: 1 }), tools: rule }), {
      maxLength: 3,
    }),
    renames: fc.dictionary(name, name, { maxKeys: 3 }),
  })
  .map(({ access, tools, grants, renames }) => {
    const overrides: Record<string, { name: string }> = {};
    const used = new Set<string>();
    for (const [real, to] of Object.entries(renames)) {
      if (used.has(to)) continue;
      used.add(to);
      overrides[real] = { name: to };
    }
    return doc({ access, policy: { tools, grants, overrides } });
  });
const principals = fc.record({
  subject: fc.constantFrom('p1', 'p2', 'p3'),
  groups,
  method: fc.constantFrom('api_key' as const, 'jwt' as const, 'anonymous' as const),
});

describe('policy properties (random documents)', () => {
  it('the list filter and the call gate never disagree', () => {
    fc.assert(
      fc.property(documents, principals, fc.uniqueArray(name, { maxLength: 8 }), (d, p, real) => {
        const listed = new Set(
          visibleTools(
            d,
            p,
            real.map((n) => ({ name: n })),
          ).map((t) => t.name),
        );
        for (const exposed of new Set([...real, ...listed, 'pods_list', 'zzz'])) {
          const gate = gateCall(d, p, exposed);
          const callable = gate.allowed && real.includes(gate.realName);
          expect(callable, `${exposed}`).toBe(listed.has(exposed));
        }
      }),
      { numRuns: 500 },
    );
  });

  function applicableRules(d: ServerDocument, p: Principal) {
    const grants =
      p.method === 'anonymous'
        ? []
        : d.policy.grants.filter((g) => g.groups.some((x) => p.groups.includes(x)));
    return [d.policy.tools, ...grants.map((g) => g.tools)];
  }

  it('a deny that matches wins over every allow, in any order of rules', () => {
    fc.assert(
      fc.property(documents, principals, name, (d, p, n) => {
        const denied = applicableRules(d, p).some((r) => r.deny.some((pat) => globMatches(pat, n)));
        if (denied) expect(decide(d, p, 'tools', n).allowed).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('default deny: a name that no applicable allow matches is refused', () => {
    fc.assert(
      fc.property(documents, principals, name, (d, p, n) => {
        const allowed = applicableRules(d, p).some((r) => r.allow.some((pat) => globMatches(pat, n)));
        if (!allowed) expect(decide(d, p, 'tools', n).allowed).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('the list filter over text: the kept entries sliced, as the parsed filter keeps them', () => {
  const item = (n: string) => ({
    name: n,
    description: `the "${n}" tool \u2014 {[`,
    inputSchema: { type: 'object' },
  });
  const spacing = fc.constantFrom<number | undefined>(undefined, 2);

  it('gives what filterListResult gives, for random documents, lists and formatting', () => {
    fc.assert(
      fc.property(
        documents,
        principals,
        fc.uniqueArray(name, { maxLength: 8 }),
        spacing,
        fc.boolean(),
        (d, p, names, space, scoped) => {
          const result = {
            tools: names.map(item),
            ...(scoped ? { cacheScope: 'shared' } : {}),
            nextCursor: 'c',
          };
          const message = { result, jsonrpc: '2.0', id: 7 };
          const text = JSON.stringify(message, null, space);
          const filtered = filterListText(d, p, 'tools/list', text);
          expect(filtered).toBeDefined();
          const expected = { ...message, result: filterListResult(d, p, 'tools/list', result) };
          expect(JSON.parse(filtered ? joined(text, filtered.spliced) : '')).toEqual(expected);
          expect(filtered?.listed()).toEqual(result.tools);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('filters prompts and resources by the same predicate', () => {
    const d = doc({
      access: { groups: ['viewers'] },
      policy: { prompts: { allow: ['p1'] }, resources: { allow: ['file:///ok/*'] } },
    });
    const prompts = { prompts: [{ name: 'p1' }, { name: 'p2' }, { title: 'no name' }] };
    const resources = { resources: [{ uri: 'file:///ok/a' }, { uri: 'file:///secret' }] };
    for (const [method, result] of [
      ['prompts/list', prompts],
      ['resources/list', resources],
    ] as const) {
      const text = JSON.stringify({ jsonrpc: '2.0', id: 1, result });
      const filtered = filterListText(d, viewer, method, text);
      expect(JSON.parse(filtered ? joined(text, filtered.spliced) : '').result).toEqual(
        filterListResult(d, viewer, method, result),
      );
    }
  });

  it('does not read what JSON.parse would read otherwise: a repeated name, list or result, or broken text', () => {
    const open = doc({ access: { groups: ['viewers'] }, policy: { tools: { allow: ['pods_list'] } } });
    const unread = [
      // JSON.parse keeps the last name: the client would see pods_exec under an allowed name's review.
      '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"pods_list","name":"pods_exec"}]}}',
      '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"pods_list"}],"tools":[{"name":"pods_exec"}]}}',
      '{"jsonrpc":"2.0","id":1,"result":{"tools":[]},"result":{"tools":[{"name":"pods_exec"}]}}',
      '{"jsonrpc":"2.0","id":1,"result":{"tools":["pods_exec"]}}',
      '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"pods_list"}]}} {"extra":1}',
      '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"pods_list"}]',
      '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"pods_list}]}}',
      '{"jsonrpc":"2.0","id":1,"result":{"tools":{"name":"pods_exec"}}}',
    ];
    for (const text of unread) expect(filterListText(open, viewer, 'tools/list', text), text).toBeUndefined();
    // An escaped name is the name it spells.
    const escaped =
      '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"pods\\u005flist"},{"name":"pods\\u005fexec"}]}}';
    const read = filterListText(open, viewer, 'tools/list', escaped);
    expect(JSON.parse(read ? joined(escaped, read.spliced) : '').result.tools).toEqual([
      { name: 'pods_list' },
    ]);
  });
});
