import { describe, expect, it } from 'vitest';
import { parseDocument, type ServerDocument } from '../../shared/policy/document.ts';
import { filterDiscoverResult, filterListResult, gateMessage } from '../../shared/policy/gate.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';

function doc(policy: Record<string, unknown>): ServerDocument {
  const parsed = parseDocument({
    version: 1,
    name: 'docs',
    upstream: { url: 'https://bridge.test/docs/mcp' },
    access: { groups: ['readers', 'writers'] },
    policy,
  });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  return parsed.document;
}

const reader: Principal = { subject: 'rita', groups: ['readers'], method: 'oauth' };
const writer: Principal = { subject: 'will', groups: ['writers'], method: 'api_key' };
const documents = doc({
  tools: { allow: [] },
  resources: { allow: ['docs://public/*'] },
  grants: [{ groups: ['writers'], tools: { allow: ['edit'] }, prompts: { deny: ['*'] } }],
});
const request = (method: string, params: Record<string, unknown> = {}): JSONRPCMessage => ({
  jsonrpc: '2.0',
  id: 1,
  method,
  params,
});
const discovered = {
  supportedVersions: ['2026-07-28'],
  capabilities: { tools: {}, prompts: {}, resources: {} },
};

describe('the gate for 2026-07-28 requests', () => {
  it('knows the methods of each revision: no initialize on the new one, no discover on the old', () => {
    expect(gateMessage(documents, reader, request('initialize'), 'modern')).toMatchObject({
      action: 'refuse',
      refusal: { kind: 'unknown_method', method: 'initialize', stateless: true },
    });
    expect(gateMessage(documents, reader, request('server/discover'), 'modern').action).toBe('forward');
    expect(gateMessage(documents, reader, request('server/discover'), 'legacy').action).toBe('refuse');
    expect(gateMessage(documents, reader, request('subscriptions/listen'), 'legacy').action).toBe('refuse');
  });

  it('keeps only the resource subscriptions a listener may read', () => {
    const listen = request('subscriptions/listen', {
      notifications: {
        toolsListChanged: true,
        resourceSubscriptions: ['docs://public/a', 'docs://secret/b'],
      },
    });
    const gate = gateMessage(documents, reader, listen, 'modern');
    expect(gate.action === 'forward' && gate.message).toMatchObject({
      params: { notifications: { toolsListChanged: true, resourceSubscriptions: ['docs://public/a'] } },
    });
  });

  it('drops resource subscriptions that are not a list of URIs', () => {
    const listen = request('subscriptions/listen', {
      notifications: { resourceSubscriptions: 'docs://secret/b' },
    });
    const gate = gateMessage(documents, reader, listen, 'modern');
    expect(gate.action === 'forward' && gate.message).toMatchObject({
      params: { notifications: { resourceSubscriptions: [] } },
    });
  });

  it('marks a result filtered for one principal private, whatever the server said', () => {
    const listed = { tools: [{ name: 'edit' }], ttlMs: 60_000, cacheScope: 'public' };
    expect(filterListResult(documents, writer, 'tools/list', listed)).toMatchObject({
      tools: [{ name: 'edit' }],
      cacheScope: 'private',
    });
    expect(filterDiscoverResult(documents, writer, { ...discovered, cacheScope: 'public' }).cacheScope).toBe(
      'private',
    );
  });

  it('removes from discover the capabilities of kinds the principal can use nothing of', () => {
    // Prompts are filtered (a grant names them) and nothing allows any to readers.
    expect(filterDiscoverResult(documents, reader, discovered).capabilities).toEqual({ resources: {} });
    expect(filterDiscoverResult(documents, writer, discovered).capabilities).toEqual({
      tools: {},
      resources: {},
    });
    const outsider: Principal = { subject: 'olga', groups: ['others'], method: 'jwt' };
    expect(filterDiscoverResult(documents, outsider, discovered).capabilities).toEqual({});
  });
});
