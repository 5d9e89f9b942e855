import { beforeEach, describe, expect, it } from 'vitest';
import {
  bearer,
  call,
  mcp,
  putApiKey,
  putDocument,
  recorded,
  recordingEnv,
  resetUpstream,
  upstream,
} from './helpers.ts';

/** The Worker with 2026-07-28 requests (workerd), a recording upstream standing where the bridge stands. */
const meta = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
};
const call26 = (name: string, id = 5) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: {}, _meta: meta },
});
const headers26 = (method: string, name?: string) => ({
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': method,
  ...(name === undefined ? {} : { 'mcp-name': name }),
  ...bearer('viewer-key'),
});

beforeEach(async () => {
  await resetUpstream();
  await putDocument('docs', {
    version: 1,
    name: 'docs',
    upstream: { url: `${upstream}/json/docs/mcp` },
    access: { groups: ['viewers'] },
    policy: { tools: { allow: ['echo', 'pods_log'] }, overrides: { pods_log: { name: 'read_log' } } },
  });
  await putApiKey('viewer-key', { principal: 'alice', groups: ['viewers'] });
});

describe('2026-07-28 requests at the edge', () => {
  it('refuses headers that disagree with the body before the policy, counted but not audited', async () => {
    const { env, points } = recordingEnv();
    const response = await call(mcp('docs', call26('get-env'), headers26('tools/call', 'echo')), env);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ id: 5, error: { code: -32020 } });
    expect(await recorded()).toEqual([]);
    expect(points.map((p) => p.blobs?.slice(0, 6))).toEqual([
      ['docs', 'tools/call', '', 'header_mismatch', 'alice', 'refused'],
    ]);
  });

  it('forwards headers computed from the body the bridge gets: a renamed tool under its real name', async () => {
    const response = await call(mcp('docs', call26('read_log'), headers26('tools/call', 'read_log')));
    expect(response.status).toBe(200);
    const [seen] = await recorded();
    expect(seen?.headers).toMatchObject({
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'pods_log',
    });
    expect(JSON.parse(seen?.body ?? '{}').params.name).toBe('pods_log');
  });

  it('never forwards mirrored headers of 2025 traffic; the policy reads the body', async () => {
    const legacy = {
      jsonrpc: '2.0',
      id: 6,
      method: 'tools/call',
      params: { name: 'get-env', arguments: {} },
    };
    const lying = {
      'mcp-method': 'tools/call',
      'mcp-name': 'echo',
      'mcp-session-id': 'rec.1',
      ...bearer('viewer-key'),
    };
    const response = await call(mcp('docs', legacy, lying));
    expect(await response.text()).toContain('-32005');
    expect(await recorded()).toEqual([]);
    const allowed = { ...legacy, params: { name: 'echo', arguments: {} } };
    await call(mcp('docs', allowed, { ...lying, 'mcp-name': 'get-env' }));
    const [seen] = await recorded();
    expect(seen?.headers['mcp-name']).toBeUndefined();
    expect(seen?.headers['mcp-method']).toBeUndefined();
  });

  it('answers an unknown version with -32022 (400) and a method the revision lacks with 404', async () => {
    const future = {
      ...call26('echo'),
      params: { name: 'echo', _meta: { ...meta, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } },
    };
    const refused = await call(
      mcp('docs', future, { ...headers26('tools/call', 'echo'), 'mcp-protocol-version': '2099-01-01' }),
    );
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      error: { code: -32022, data: { supported: ['2026-07-28'] } },
    });
    const initialize = { jsonrpc: '2.0', id: 7, method: 'initialize', params: { _meta: meta } };
    const missing = await call(mcp('docs', initialize, headers26('initialize')));
    expect(missing.status).toBe(404);
    expect(await recorded()).toEqual([]);
  });
});
