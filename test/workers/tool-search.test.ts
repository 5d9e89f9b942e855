import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Env } from '../../workers/env.ts';
import {
  bearer,
  call,
  origin,
  putApiKey,
  putDocument,
  recorded,
  recordingEnv,
  resetUpstream,
  upstream,
} from './helpers.ts';

const withBridge = (e: Env): Env => ({ ...e, BRIDGE_URL: `${upstream}/json/`, DOCUMENT_CACHE_SECONDS: '1' });

let nextId = 1;
/** One request to the tool-search portal `finder`, as `key`; its JSON-RPC answer. */
async function finder(method: string, params: Record<string, unknown>, key = 'viewer-key', e: Env = env) {
  const request = new Request(`${origin}/finder/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...bearer(key),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON-RPC answers by path
  return (await (await call(request, withBridge(e))).json()) as any;
}

const found = async (query: string, key?: string) =>
  (
    (await finder('tools/call', { name: 'find_tools', arguments: { query, limit: 50 } }, key)).result
      .structuredContent.tools as { name: string }[]
  ).map((t) => t.name);

describe('tool search: a portal that shows find_tools and call_tool', () => {
  beforeEach(async () => {
    await resetUpstream();
    await putDocument('beta', {
      version: 1,
      name: 'beta',
      access: { groups: ['viewers', 'operators'] },
      policy: {
        tools: { allow: ['echo', 'pods_list', 'pods_log'], deny: ['get-env'] },
        grants: [{ groups: ['operators'], tools: { allow: ['pods_delete'] } }],
      },
    });
    await putDocument('finder', {
      version: 1,
      name: 'finder',
      access: { groups: ['viewers', 'operators'] },
      portal: { members: ['beta'], toolSearch: true },
      policy: { tools: { allow: ['*'] }, prompts: {}, resources: {} },
    });
    await putApiKey('viewer-key', { principal: 'alice', groups: ['viewers'] });
    await putApiKey('operator-key', { principal: 'bob', groups: ['operators'] });
  });

  it('lists the two tools only, answered at the edge without a request to the bridge', async () => {
    const listed = await finder('tools/list', {});
    expect(listed.result.tools.map((t: { name: string }) => t.name)).toEqual(['find_tools', 'call_tool']);
    expect(await recorded()).toEqual([]);
  });

  it('finds, ranked, only what this person may call: never a denied tool, nor one granted to another group', async () => {
    expect(await found('pods')).toEqual(['beta__pods_list', 'beta__pods_log']);
    // "List pods" matches in the description too: it ranks first; the rest by name.
    expect(await found('pods', 'operator-key')).toEqual([
      'beta__pods_list',
      'beta__pods_delete',
      'beta__pods_log',
    ]);
    expect(await found('environment get env')).toEqual([]);
    expect(await found('echo')).toEqual(['beta__echo']);
  });

  it('call_tool runs the real tool, recorded as the real server and tool', async () => {
    const { env: recording, points } = recordingEnv();
    const request = new Request(`${origin}/finder/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...bearer('viewer-key') },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'call_tool', arguments: { name: 'beta__echo', arguments: { message: 'hi' } } },
      }),
    });
    const answer = (await (await call(request, withBridge(recording))).json()) as { result: unknown };
    expect(answer.result).toEqual({
      content: [{ type: 'text', text: 'called beta__echo {"message":"hi"}' }],
    });
    expect(JSON.parse((await recorded()).at(-1)?.body ?? '{}').params).toEqual({
      name: 'beta__echo',
      arguments: { message: 'hi' },
    });
    expect(points.at(-1)?.blobs?.slice(0, 4)).toEqual(['beta', 'tools/call', 'echo', 'allowed']);
    expect(points.at(-1)?.blobs?.[8]).toBe('finder');
    expect(points.at(-1)?.blobs?.[9]).toBe('beta__echo');
  });

  it('refuses every bypass the way a direct call is refused, and sends nothing to the bridge', async () => {
    const direct = await finder('tools/call', { name: 'beta__get-env', arguments: {} });
    expect(direct.error.message).toContain(
      'Tool "get-env" is not permitted for you on MCP server "beta" (denied)',
    );
    const through = await finder('tools/call', { name: 'call_tool', arguments: { name: 'beta__get-env' } });
    expect(through.error).toEqual(direct.error);
    for (const name of [
      'beta__pods_delete',
      'BETA__get-env',
      'beta__GET-ENV',
      'beta__get\u2010env',
      'beta__beta__get-env',
      'get-env',
      'find_tools',
      'call_tool',
    ]) {
      const refused = await finder('tools/call', { name: 'call_tool', arguments: { name } });
      expect(refused.error?.message, name).toMatch(/is not permitted for you on MCP server "(beta|finder)"/);
    }
    expect(await recorded()).toEqual([]);
  });
});
