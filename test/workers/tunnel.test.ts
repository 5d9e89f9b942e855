import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { bearer, call, mcp, putApiKey, putDocument, recorded, resetUpstream, upstream } from './helpers.ts';

const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };

beforeEach(async () => {
  await resetUpstream();
  await putApiKey('tunnel-key', { principal: 'tess', groups: ['ops'] });
});

describe('reaching the cluster', () => {
  it('sends a Cloudflare Access service token beside our signature when one is configured', async () => {
    await putDocument('public-host', {
      version: 1,
      name: 'public-host',
      upstream: { url: `${upstream}/json/public-host/mcp` },
      access: { groups: ['ops'] },
      policy: { tools: { allow: ['*'] } },
    });
    const withAccess = {
      ...env,
      ACCESS_CLIENT_ID: 'abc.access',
      ACCESS_CLIENT_SECRET: 'access-secret-value',
    };
    expect((await call(mcp('public-host', list, bearer('tunnel-key')), withAccess)).status).toBe(200);
    const [seen] = await recorded();
    expect(seen?.headers['cf-access-client-id']).toBe('abc.access');
    expect(seen?.headers['cf-access-client-secret']).toBe('access-secret-value');
    expect(seen?.headers['mcp-gateway-signature']).toMatch(/^v1=/);
  });

  it('goes through the VPC service binding when there is one, to a name only the tunnel resolves', async () => {
    await putDocument('private', {
      version: 1,
      name: 'private',
      upstream: { url: 'http://mcp-bridge.mcp.svc.cluster.local:8080/json/private/mcp' },
      access: { groups: ['ops'] },
      policy: { tools: { allow: ['*'] } },
    });
    // The binding runs only on Cloudflare; this stand-in Fetcher plays the tunnel's part.
    const through: string[] = [];
    const BRIDGE = {
      fetch: (url: URL, init: RequestInit) => {
        through.push(String(url));
        return fetch(`${upstream}${new URL(url).pathname}`, init);
      },
    } as unknown as Fetcher;
    const response = await call(mcp('private', list, bearer('tunnel-key')), { ...env, BRIDGE });
    expect(response.status).toBe(200);
    expect(through).toEqual(['http://mcp-bridge.mcp.svc.cluster.local:8080/json/private/mcp']);
    expect((await recorded())[0]?.headers['mcp-gateway-signature']).toMatch(/^v1=/);
  });

  it('finds the bridge at BRIDGE_URL for a document that names no upstream', async () => {
    await putDocument('anywhere', {
      version: 1,
      name: 'anywhere',
      access: { groups: ['ops'] },
      policy: { tools: { allow: ['*'] } },
    });
    const located = { ...env, BRIDGE_URL: `${upstream}/json` };
    expect((await call(mcp('anywhere', list, bearer('tunnel-key')), located)).status).toBe(200);
    expect((await recorded())[0]?.path).toBe('/json/anywhere/mcp');
  });

  it('without BRIDGE_URL or an upstream in the document, fails closed and forwards nothing', async () => {
    await putDocument('nowhere', {
      version: 1,
      name: 'nowhere',
      access: { groups: ['ops'] },
      policy: { tools: { allow: ['*'] } },
    });
    const response = await call(mcp('nowhere', list, bearer('tunnel-key')), env);
    expect(response.status).toBe(500);
    expect(await response.text()).toContain('misconfigured');
    expect(await recorded()).toEqual([]);
  });

  it('refuses to run with half an Access service token', async () => {
    const half = { ...env, ACCESS_CLIENT_ID: 'abc.access' };
    const response = await call(mcp('private', list, bearer('tunnel-key')), half);
    expect(response.status).toBe(500);
    expect(await response.text()).toContain('gateway');
  });
});
