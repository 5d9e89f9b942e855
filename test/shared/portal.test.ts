import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDocument, type ServerDocument } from '../../shared/policy/document.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import { gatePortalMessage } from '../../shared/portal/gate.ts';
import {
  memberOf,
  memberOfUri,
  namespaced,
  namespacedUri,
  naming,
  prefixed,
} from '../../shared/portal/names.ts';
import { listsByMember, namespacedList } from '../../shared/portal/rewrite.ts';
import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';

const member = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/);
const toolName = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/);

function doc(
  name: string,
  policy: Record<string, unknown>,
  access = { groups: ['viewers'] },
): ServerDocument {
  const parsed = parseDocument({ version: 1, name, access, policy });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  return parsed.document;
}

const viewer: Principal = { subject: 'alice', groups: ['viewers'], method: 'api_key' };
const call = (name: string): JSONRPCMessage =>
  ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} } }) as JSONRPCMessage;

describe('portal names', () => {
  it('read back the member and its own name, for any names (no lookup table)', () => {
    fc.assert(
      fc.property(member, toolName, (m, t) => {
        expect(memberOf(namespaced(m, t))).toEqual({ member: m, name: t });
        expect(memberOfUri(namespacedUri(m, `file:///${t}`))).toEqual({ member: m, name: `file:///${t}` });
      }),
    );
  });

  it('never collide: two different (member, name) pairs give two different names', () => {
    fc.assert(
      fc.property(member, toolName, member, toolName, (m1, t1, m2, t2) => {
        fc.pre(m1 !== m2 || t1 !== t2);
        expect(namespaced(m1, t1)).not.toBe(namespaced(m2, t2));
      }),
    );
  });

  it('keep to the tool-name characters of the MCP spec when the member’s names do', () => {
    fc.assert(fc.property(member, toolName, (m, t) => /^[A-Za-z0-9_.-]+$/.test(namespaced(m, t))));
  });

  it('with an unprefixed member, still read back for any names, and never collide', () => {
    const uri = fc.oneof(
      toolName.map((t) => `file:///${t}`),
      toolName.map((t) => `portal://${t}`),
    );
    fc.assert(
      fc.property(member, member, toolName, uri, (u, m, t, r) => {
        const names = naming(u);
        expect(names.ofName(names.name(m, t))).toEqual({ member: m, name: t });
        expect(names.ofName(names.name(u, t))).toEqual({ member: u, name: t });
        expect(names.ofUri(names.uri(m, r))).toEqual({ member: m, name: r });
        expect(names.ofUri(names.uri(u, r))).toEqual({ member: u, name: r });
        fc.pre(m !== u);
        expect(names.name(u, t)).not.toBe(names.name(m, t));
      }),
    );
  });

  it('an unprefixed member keeps its names unless they would read as another member’s', () => {
    const names = naming('conformance');
    expect(names.name('conformance', 'test_simple_text')).toBe('test_simple_text');
    expect(names.name('conformance', 'docs__search')).toBe('conformance__docs__search');
    expect(names.name('docs', 'search')).toBe('docs__search');
    expect(names.uri('conformance', 'test://static-text')).toBe('test://static-text');
    expect(names.uri('conformance', 'portal://docs/a')).toBe('portal://conformance/portal://docs/a');
    expect(names.ofName('test_simple_text')).toEqual({ member: 'conformance', name: 'test_simple_text' });
  });

  it.each(['get-env', '__get-env', 'Everything__echo', 'a_b__echo', '-x__echo', 'x__'])(
    '%s is no portal name',
    (name) => {
      expect(memberOf(name)).toBeUndefined();
    },
  );
});

describe('the portal gate: each message decided by its member’s own document', () => {
  const members = new Map([
    [
      'openshift',
      doc('openshift', {
        tools: { allow: ['pods_list', 'pods_log'], deny: ['pods_exec'] },
        grants: [{ groups: ['operators'], tools: { allow: ['pods_delete'] } }],
        overrides: { pods_log: { name: 'read_pod_log' } },
      }),
    ],
    ['docs', doc('docs', { tools: { allow: ['*'] }, resources: { allow: ['file:///docs/*'] } })],
  ]);

  it('forwards an allowed call under the portal name of its real tool', () => {
    const gate = gatePortalMessage(members, viewer, call('openshift__read_pod_log'));
    expect(gate).toMatchObject({ action: 'forward', member: 'openshift', name: 'pods_log' });
    expect(gate.action === 'forward' && gate.message).toMatchObject({
      params: { name: 'openshift__pods_log' },
    });
  });

  it.each([
    ['openshift__pods_exec', 'denied'],
    ['openshift__pods_delete', 'not_allowed'],
    ['openshift__pods_log', 'unknown_name'],
    ['elsewhere__pods_list', 'unknown_name'],
    ['pods_list', 'unknown_name'],
  ])('refuses %s (%s), as the member’s own URL would', (name, reason) => {
    const gate = gatePortalMessage(members, viewer, call(name));
    expect(gate).toMatchObject({ action: 'refuse', refusal: { kind: 'not_permitted', reason } });
  });

  it('a member the caller may not reach is as unknown as one that does not exist', () => {
    const narrowed = new Map([...members].filter(([name]) => name !== 'docs'));
    const gate = gatePortalMessage(narrowed, viewer, call('docs__anything'));
    expect(gate).toMatchObject({ action: 'refuse', refusal: { server: 'portal', reason: 'unknown_name' } });
  });

  it('decides resources on the member’s own URI, spelling tricks included', () => {
    const read = (uri: string) =>
      gatePortalMessage(members, viewer, {
        jsonrpc: '2.0',
        id: 2,
        method: 'resources/read',
        params: { uri },
      } as JSONRPCMessage);
    expect(read('portal://docs/file:///docs/a.md')).toMatchObject({ action: 'forward', member: 'docs' });
    expect(read('portal://docs/file:///docs/../etc/passwd')).toMatchObject({
      refusal: { reason: 'unclear_uri' },
    });
    expect(read('file:///docs/a.md')).toMatchObject({
      refusal: { server: 'portal', reason: 'unknown_name' },
    });
  });

  it('a named portal narrows tools and prompts by their portal names; a resource completion by its member alone', () => {
    const portal = doc('ops', {
      tools: { allow: ['openshift__*'], deny: ['openshift__pods_list'] },
      prompts: {},
    });
    const gate = (message: JSONRPCMessage) => gatePortalMessage(members, viewer, message, 'legacy', portal);
    expect(gate(call('openshift__read_pod_log'))).toMatchObject({ action: 'forward' });
    expect(gate(call('openshift__pods_list'))).toMatchObject({
      refusal: { server: 'ops', reason: 'denied' },
    });
    expect(gate(call('docs__search'))).toMatchObject({ refusal: { server: 'ops', reason: 'not_allowed' } });
    const complete = (ref: Record<string, unknown>) =>
      gate({
        jsonrpc: '2.0',
        id: 3,
        method: 'completion/complete',
        params: { ref, argument: { name: 'x', value: '' } },
      } as JSONRPCMessage);
    expect(complete({ type: 'ref/resource', uri: 'portal://docs/file:///docs/{x}' })).toMatchObject({
      action: 'forward',
    });
    expect(complete({ type: 'ref/prompt', name: 'docs__greet' })).toMatchObject({ action: 'refuse' });
  });

  it('a portal that keeps one member’s names routes them to it, decided by that member’s document', () => {
    const parsed = parseDocument({
      version: 1,
      name: 'openshift-mcp',
      access: { groups: ['viewers'] },
      portal: { members: ['openshift', 'docs'], unprefixed: 'openshift' },
      policy: { tools: { allow: ['*'] } },
    });
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const gate = (name: string) => gatePortalMessage(members, viewer, call(name), 'legacy', parsed.document);
    expect(gate('read_pod_log')).toMatchObject({ action: 'forward', member: 'openshift', name: 'pods_log' });
    const forwarded = gate('read_pod_log');
    expect(forwarded.action === 'forward' ? forwarded.message : undefined).toMatchObject({
      params: { name: 'pods_log' },
    });
    expect(gate('pods_exec')).toMatchObject({ action: 'refuse', refusal: { reason: 'denied' } });
    expect(gate('docs__search')).toMatchObject({ action: 'forward', member: 'docs' });
    // A name of no prefix is the unprefixed member's, so its own document refuses it.
    expect(gate('search')).toMatchObject({ action: 'refuse', refusal: { reason: 'not_allowed' } });
  });

  it('a 2026-07-28 listen keeps only the resource subscriptions each member’s document allows', () => {
    const listen = {
      jsonrpc: '2.0',
      id: 4,
      method: 'subscriptions/listen',
      params: {
        notifications: {
          toolsListChanged: true,
          resourceSubscriptions: [
            'portal://docs/file:///docs/a.md',
            'portal://docs/file:///etc/passwd',
            'portal://openshift/x',
            'file:///docs/a.md',
            7,
          ],
        },
      },
    } as JSONRPCMessage;
    const gate = gatePortalMessage(members, viewer, listen, 'modern');
    expect(gate.action === 'forward' && gate.message).toMatchObject({
      params: {
        notifications: { toolsListChanged: true, resourceSubscriptions: ['portal://docs/file:///docs/a.md'] },
      },
    });
  });

  it('a merged list splits back per member, each item under its own name', () => {
    const merged = [
      ...namespacedList(prefixed, 'openshift', 'tools/list', {
        tools: [{ name: 'pods_list' }, { name: 'pods_exec' }],
      }),
      ...namespacedList(prefixed, 'docs', 'tools/list', { tools: [{ name: 'search' }] }),
      { name: 'stray' },
    ];
    const split = listsByMember(prefixed, 'tools/list', { tools: merged });
    expect(Object.fromEntries(split)).toEqual({
      openshift: [{ name: 'pods_list' }, { name: 'pods_exec' }],
      docs: [{ name: 'search' }],
    });
  });
});
