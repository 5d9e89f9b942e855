import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../../workers/env.ts';
import {
  bearer,
  call,
  open,
  origin,
  putApiKey,
  putDocument,
  recorded,
  recordingEnv,
  resetUpstream,
  streamText,
  upstream,
} from './helpers.ts';

/** A member served by the environment's bridge (no upstream of its own). */
const member = (name: string, groups: string[], allow: string[]) => ({
  version: 1,
  name,
  access: { groups },
  policy: { tools: { allow, deny: ['get-env'] } },
  audit: { arguments: 'none' },
});

const withBridge = (e: Env): Env => ({ ...e, BRIDGE_URL: `${upstream}/json/`, DOCUMENT_CACHE_SECONDS: '1' });

function portal(message: unknown, headers: Record<string, string> = {}): Request {
  return new Request(`${origin}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(message),
  });
}

const toolCall = (name: string) => ({
  jsonrpc: '2.0',
  id: 7,
  method: 'tools/call',
  params: { name, arguments: {} },
});

describe('the portal at the edge', () => {
  beforeEach(async () => {
    await resetUpstream();
    await putDocument('alpha', member('alpha', ['viewers'], ['echo']));
    await putDocument('beta', member('beta', ['viewers'], ['*']));
    await putDocument('gamma', member('gamma', ['operators'], ['*']));
    await putApiKey('viewer-key', { principal: 'alice', groups: ['viewers'] });
  });

  it('tells the bridge, signed, which members this caller may reach, and forwards a call under the real name', async () => {
    const { env: recording, points } = recordingEnv();
    const response = await call(portal(toolCall('beta__echo'), bearer('viewer-key')), withBridge(recording));
    expect(response.status).toBe(200);
    const forwarded = (await recorded()).at(-1);
    expect(forwarded?.path).toBe('/json/mcp?servers=alpha%2Cbeta');
    expect(forwarded?.headers['mcp-gateway-signature']).toBeDefined();
    expect(JSON.parse(forwarded?.body ?? '{}').params.name).toBe('beta__echo');
    // Analytics Engine records the member and its own tool name.
    expect(points.at(-1)?.blobs?.slice(0, 4)).toEqual(['beta', 'tools/call', 'echo', 'allowed']);
    expect(points.at(-1)?.blobs?.[8]).toBe('/mcp');
    // And the name the client called.
    expect(points.at(-1)?.blobs?.[9]).toBe('beta__echo');
  });

  it('audits a call as its member’s, with the portal and the name the client called', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await call(portal(toolCall('beta__echo'), bearer('viewer-key')), withBridge(env));
      await call(portal(toolCall('beta__get-env'), bearer('viewer-key')), withBridge(env));
      const lines = log.mock.calls.map(([line]) => JSON.parse(String(line)));
      const audited = lines.filter((line) => line.event === 'mcp.tools.call');
      expect(audited).toMatchObject([
        { server: 'beta', tool: 'echo', exposed: 'beta__echo', portal: '/mcp', status: 'success' },
        { server: 'beta', tool: 'get-env', exposed: 'beta__get-env', decision: 'denied', status: 'refused' },
      ]);
    } finally {
      log.mockRestore();
    }
  });

  it('refuses a member the caller may not reach, and a tool its member denies, without a byte to the bridge', async () => {
    for (const [name, text] of [
      ['gamma__echo', 'Tool "gamma__echo" is not permitted for you on MCP server "portal" (unknown name)'],
      ['alpha__pods_list', 'Tool "pods_list" is not permitted for you on MCP server "alpha" (not allowed)'],
      ['beta__get-env', 'Tool "get-env" is not permitted for you on MCP server "beta" (denied)'],
    ]) {
      const answer = await (
        await call(portal(toolCall(name as string), bearer('viewer-key')), withBridge(env))
      ).json();
      expect((answer as { error: { message: string } }).error.message, name).toContain(text);
    }
    expect(await recorded()).toEqual([]);
  });

  it('forwards a 2026-07-28 call with the portal name in Mcp-Name, decided by its member', async () => {
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const modern = (name: string) =>
      portal(
        { ...toolCall(name), params: { name, arguments: {}, _meta: meta } },
        {
          ...bearer('viewer-key'),
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': name,
        },
      );
    expect((await call(modern('beta__echo'), withBridge(env))).status).toBe(200);
    const forwarded = (await recorded()).at(-1);
    expect(forwarded?.headers['mcp-name']).toBe('beta__echo');
    expect(JSON.parse(forwarded?.body ?? '{}').params.name).toBe('beta__echo');
    const denied = await (await call(modern('beta__get-env'), withBridge(env))).json();
    expect(denied).toMatchObject({
      error: { message: expect.stringContaining('on MCP server "beta" (denied)') },
    });
    expect((await recorded()).length).toBe(1);
  });

  it('says list_changed on the session stream when a member’s document changes', async () => {
    const request = new Request(`${origin}/mcp`, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': 'rec.1', ...bearer('viewer-key') },
    });
    const response = await open(request, withBridge(env));
    expect(response.status).toBe(200);
    const stream = streamText(response);
    await stream.read((t) => t.includes(': keepalive'), 3000);
    expect(stream.text).not.toContain('list_changed');
    await putDocument('alpha', member('alpha', ['viewers'], ['echo', 'pods_list']));
    await stream.read((t) => t.includes('list_changed'), 8000);
    await stream.cancel();
    expect(stream.text).toContain('"method":"notifications/tools/list_changed"');
  });

  it('asks a caller without credentials for a token when no member is open to anyone', async () => {
    const response = await call(portal(toolCall('beta__echo')), withBridge(env));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain(
      `${origin}/.well-known/oauth-protected-resource/mcp`,
    );
  });

  it('a named portal serves its members at its own URL, narrowed by its own policy, never widened', async () => {
    await putDocument('ops', {
      version: 1,
      name: 'ops',
      access: { groups: ['viewers'] },
      portal: { members: ['alpha', 'beta', 'gamma'] },
      policy: {
        tools: { allow: ['alpha__*', 'beta__*'], deny: ['beta__pods_*'] },
        prompts: {},
        resources: {},
      },
    });
    const ops = (message: unknown, key = 'viewer-key') =>
      new Request(`${origin}/ops/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...bearer(key),
        },
        body: JSON.stringify(message),
      });
    const listed = await (
      await call(ops({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), withBridge(env))
    ).json();
    // alpha allows only echo; beta everything but get-env; the portal takes pods_* of beta away.
    expect((listed as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name)).toEqual([
      'alpha__echo',
      'beta__echo',
    ]);
    expect((await recorded()).at(-1)?.path).toBe('/json/mcp?servers=alpha%2Cbeta');
    const refused = async (name: string) =>
      ((await (await call(ops(toolCall(name)), withBridge(env))).json()) as { error: { message: string } })
        .error.message;
    expect(await refused('beta__pods_list')).toContain(
      'Tool "beta__pods_list" is not permitted for you on MCP server "ops" (denied)',
    );
    expect(await refused('alpha__pods_list')).toContain('on MCP server "alpha" (not allowed)');
    expect(await refused('gamma__echo')).toContain(
      'Tool "gamma__echo" is not permitted for you on MCP server "ops" (unknown name)',
    );
    await putApiKey('stranger-key', { principal: 'eve', groups: ['guests'] });
    expect((await call(ops(toolCall('beta__echo'), 'stranger-key'), withBridge(env))).status).toBe(403);
  });
});
