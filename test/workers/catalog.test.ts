import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { bearer, call, mcp, origin, putApiKey, putDocument, resetUpstream, upstream } from './helpers.ts';

const base = { version: 1, upstream: { url: `${upstream}/json/x/mcp` } };
const provenance = {
  artifact: { type: 'npm', package: 'docs-mcp', version: '1.4.2', integrity: 'sha512-AAAA' },
  source: { repository: 'https://github.com/example/docs-mcp', commit: 'a'.repeat(40) },
  publisher: 'Example Inc.',
  signature: { verified: true, method: 'npm-provenance', checkedAt: '2026-11-20T10:00:00Z' },
};

beforeEach(async () => {
  await resetUpstream();
  await putDocument('openshift', {
    ...base,
    name: 'openshift',
    description: 'Cluster, read-only',
    access: { groups: ['viewers'] },
    policy: {
      tools: { allow: ['pods_*', 'echo'], deny: ['pods_delete'] },
      overrides: { pods_log: { name: 'read_pod_log' } },
    },
  });
  await putDocument('docs', {
    ...base,
    name: 'docs',
    public: true,
    provenance,
    access: { anonymous: true },
    policy: { tools: { allow: ['*'] } },
  });
  await putDocument('zeta', { ...base, name: 'zeta', status: 'deprecated', access: { groups: ['viewers'] } });
  await putApiKey('viewer-key', { principal: 'alice', groups: ['viewers'] });
});

async function catalog(query = '', headers: Record<string, string> = {}) {
  const response = await call(new Request(`${origin}/v0.1/servers${query}`, { headers }));
  return {
    response,
    body: (await response.json()) as {
      servers: { server: Record<string, unknown>; _meta: Record<string, { status: string }> }[];
      metadata: { count: number; nextCursor?: string };
    },
  };
}

describe('the MCP Registry catalog', () => {
  it('answers anonymous readers with the public servers only, with registry CORS', async () => {
    const { response, body } = await catalog('?limit=1');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(body.servers.map((s) => s.server.name)).toEqual(['test.gateway/docs']);
    expect(body.servers[0]?.server.remotes).toEqual([{ type: 'streamable-http', url: `${origin}/docs/mcp` }]);
  });

  it('lists what a principal may use, paged by cursor, with status', async () => {
    const first = await catalog('?limit=2', bearer('viewer-key'));
    expect(first.body.servers.map((s) => s.server.name)).toEqual([
      'test.gateway/docs',
      'test.gateway/openshift',
    ]);
    expect(first.body.metadata.nextCursor).toBe('openshift');
    const second = await catalog(`?limit=2&cursor=${first.body.metadata.nextCursor}`, bearer('viewer-key'));
    expect(second.body.servers.map((s) => s.server.name)).toEqual(['test.gateway/zeta']);
    expect(second.body.servers[0]?._meta['io.modelcontextprotocol.registry/official']?.status).toBe(
      'deprecated',
    );
    expect(second.body.metadata.nextCursor).toBeUndefined();
  });

  it('shows the tools the caller would see, once the server has listed them', async () => {
    await env.GATEWAY_KV.delete('tools:openshift');
    await call(mcp('openshift', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, bearer('viewer-key')));
    const found = await call(
      new Request(`${origin}/v0.1/servers/${encodeURIComponent('test.gateway/openshift')}/versions/latest`, {
        headers: bearer('viewer-key'),
      }),
    );
    const body = (await found.json()) as { server: { _meta: Record<string, { name: string }[]> } };
    expect(body.server._meta['dev.mcp-edge-gateway/tools']?.map((t) => t.name)).toEqual([
      'echo',
      'pods_list',
      'read_pod_log',
    ]);
  });

  it('shows what exactly runs behind a name: provenance under _meta, the source as repository', async () => {
    const { body } = await catalog();
    const docs = body.servers[0]?.server as Record<string, Record<string, unknown>>;
    expect(docs._meta?.['dev.mcp-edge-gateway/provenance']).toEqual(provenance);
    expect(docs.repository).toEqual({ url: 'https://github.com/example/docs-mcp', source: 'github' });
    const viewer = await catalog('', bearer('viewer-key'));
    const openshift = viewer.body.servers[1]?.server as Record<string, Record<string, unknown>>;
    expect(openshift._meta?.['dev.mcp-edge-gateway/provenance']).toBeNull();
    expect(openshift.repository).toBeUndefined();
  });

  it('hides what the caller may not use, and refuses bad credentials', async () => {
    const hidden = await call(
      new Request(`${origin}/v0.1/servers/${encodeURIComponent('test.gateway/openshift')}/versions/latest`),
    );
    expect(hidden.status).toBe(404);
    const refused = await catalog('', bearer('wrong-key'));
    expect(refused.response.status).toBe(403);
    expect((refused.body as unknown as { error: string }).error).toMatch(/not one this gateway issued/);
    const preflight = await call(new Request(`${origin}/v0.1/servers`, { method: 'OPTIONS' }));
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET, OPTIONS');
  });
});

describe('CORS on MCP endpoints', () => {
  it('answers preflight and echoes an allowed origin only', async () => {
    const allowed = { ...env, ALLOWED_ORIGINS: 'https://app.example' };
    const preflight = await call(
      new Request(`${origin}/openshift/mcp`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example' },
      }),
      allowed,
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const pingFrom = (from: string) =>
      call(
        mcp(
          'openshift',
          { jsonrpc: '2.0', id: 1, method: 'ping' },
          { ...bearer('viewer-key'), origin: from },
        ),
        allowed,
      );
    const post = await pingFrom('https://app.example');
    expect(post.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect((await pingFrom('https://evil.example')).status).toBe(403);
  });

  it('lets the gateway’s own page call, and refuses a rebound host name when hosts are pinned', async () => {
    const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
    const own = await call(mcp('openshift', ping, { ...bearer('viewer-key'), origin }));
    expect(own.status).toBe(200);
    const pinned = { ...env, ALLOWED_HOSTS: '127.0.0.1,localhost' };
    const local = new Request(
      'http://127.0.0.1:8787/openshift/mcp',
      mcp('openshift', ping, bearer('viewer-key')),
    );
    expect((await call(local, pinned)).status).toBe(200);
    const rebound = new Request('http://evil.example:8787/openshift/mcp', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        origin: 'http://evil.example:8787',
        ...bearer('viewer-key'),
      },
      body: JSON.stringify(ping),
    });
    const refused = await call(rebound, pinned);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('this Host is not served here');
  });
});
