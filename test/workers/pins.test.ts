import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type Definition, definitionDigest, pinsHeader } from '../../shared/policy/pins.ts';
import { toolsKey } from '../../shared/storage/kv.ts';
import type { Env } from '../../workers/env.ts';
import { forgetListed } from '../../workers/mcp/listed.ts';
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

/** As the recording upstream lists them (upstream.global.ts). */
const listed: Definition[] = [
  { name: 'echo', description: 'Echo', inputSchema: { type: 'object' } },
  { name: 'pods_list', description: 'List pods', inputSchema: { type: 'object' } },
  { name: 'pods_delete', description: 'Delete a pod', inputSchema: { type: 'object' } },
];

async function pinsOf(tools: Definition[]) {
  const pins: Record<string, unknown> = {};
  for (const tool of tools) {
    const { name, ...definition } = tool;
    pins[name] = { digest: await definitionDigest(tool), definition };
  }
  return pins;
}

const withBridge = (e: Env): Env => ({ ...e, BRIDGE_URL: `${upstream}/json/`, DOCUMENT_CACHE_SECONDS: '0' });
const message = (method: string, params: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id: 1,
  method,
  params,
});

interface Answer {
  result?: { tools?: { name: string }[] };
  error?: { code: number; message: string; data?: { reason?: string; fields?: string[] } };
}

async function ask(method: string, params?: Record<string, unknown>, e: Env = env): Promise<Answer> {
  return (await (
    await call(mcp('ops', message(method, params), bearer('alice-key')), withBridge(e))
  ).json()) as Answer;
}

async function pinDocument(unpinned: 'hide' | 'allow' = 'hide') {
  // pods_delete was reviewed with another description: what the server lists now has drifted.
  const reviewed = listed.map((t) =>
    t.name === 'pods_delete' ? { ...t, description: 'Delete one pod' } : t,
  );
  await putDocument('ops', {
    version: 1,
    name: 'ops',
    access: { principals: ['alice'] },
    policy: { tools: { allow: ['*'] }, overrides: { pods_list: { name: 'list_pods' } } },
    pins: { unpinned, tools: await pinsOf(reviewed) },
  });
}

describe('pinned tool definitions at the edge', () => {
  let logged: string[];
  beforeEach(async () => {
    logged = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => logged.push(line));
    await resetUpstream();
    forgetListed();
    await env.GATEWAY_KV.delete(toolsKey('ops'));
    await putApiKey('alice-key', { principal: 'alice' });
    await pinDocument();
    return () => log.mockRestore();
  });

  it('lists only tools as reviewed, and reports each one held back once', async () => {
    const { env: e, points } = recordingEnv();
    const names = (await ask('tools/list', {}, e)).result?.tools?.map((t) => t.name);
    // Renames still apply on top of pins; get-env and pods_log have no pin, pods_delete drifted.
    expect(names).toEqual(['echo', 'list_pods']);
    const drift = logged.map((l) => JSON.parse(l)).filter((l) => l.event === 'mcp.tools.drift');
    expect(drift.map((d) => [d.tool, d.state])).toEqual([
      ['get-env', 'unpinned'],
      ['pods_delete', 'drifted'],
      ['pods_log', 'unpinned'],
    ]);
    expect(drift[1]).toMatchObject({ fields: ['description'], pinned: expect.stringMatching(/^sha256:/) });
    const decisions = points.map((p) => `${p.blobs?.[2]} ${p.blobs?.[3]} ${p.blobs?.[5]}`);
    expect(decisions).toContain('pods_delete tool_drifted refused');
    // The bridge is told the pins on the list it answers, to count what matches none.
    const [list] = await recorded();
    expect(list?.headers[pinsHeader]?.split(',')).toHaveLength(3);
    // The whole definitions are kept for mcpgw pin and drift.
    const snapshot = JSON.parse((await env.GATEWAY_KV.get(toolsKey('ops'))) ?? '{}');
    expect(snapshot.tools.find((t: Definition) => t.name === 'echo')).toEqual(listed[0]);
    // A second list reports nothing new.
    logged.length = 0;
    await ask('tools/list');
    expect(logged.filter((l) => l.includes('mcp.tools.drift'))).toEqual([]);
  });

  it('refuses a call to a drifted or unpinned tool, naming why, and never forwards it', async () => {
    await ask('tools/list');
    await resetUpstream();
    const drifted = await ask('tools/call', { name: 'pods_delete', arguments: {} });
    expect(drifted.error?.code).toBe(-32005);
    expect(drifted.error?.message).toContain('changed since an admin reviewed it (description differ');
    expect(drifted.error?.data).toEqual({ reason: 'tool_drifted', fields: ['description'] });
    const unpinned = await ask('tools/call', { name: 'get-env', arguments: {} });
    expect(unpinned.error?.message).toContain('has no reviewed definition');
    expect(await recorded()).toEqual([]);
    expect((await ask('tools/call', { name: 'list_pods', arguments: {} })).error).toBeUndefined();
    expect((await recorded()).map((r) => JSON.parse(r.body).params.name)).toEqual(['pods_list']);
    const audit = logged.map((l) => JSON.parse(l)).filter((l) => l.event === 'mcp.tools.call');
    expect(audit.map((a) => a.decision)).toEqual(['tool_drifted', 'tool_unpinned', 'allowed']);
  });

  it('checks a call in an isolate that has not seen the list against the snapshot; refuses if none', async () => {
    const unseen = await ask('tools/call', { name: 'echo', arguments: {} });
    expect(unseen.error?.data?.reason).toBe('tool_unseen');
    expect(unseen.error?.message).toContain('list the tools (tools/list), then call it');
    await ask('tools/list');
    forgetListed(); // another isolate: the snapshot in KV is what it reads
    expect((await ask('tools/call', { name: 'echo', arguments: {} })).error).toBeUndefined();
    expect((await ask('tools/call', { name: 'pods_delete', arguments: {} })).error?.data?.reason).toBe(
      'tool_drifted',
    );
  });

  it('serves tools no pin names when the document allows them, never a drifted one', async () => {
    await pinDocument('allow');
    const names = (await ask('tools/list')).result?.tools?.map((t) => t.name);
    expect(names).toEqual(['echo', 'get-env', 'list_pods', 'pods_log']);
    expect((await ask('tools/call', { name: 'get-env', arguments: {} })).error).toBeUndefined();
    expect((await ask('tools/call', { name: 'pods_delete', arguments: {} })).error?.data?.reason).toBe(
      'tool_drifted',
    );
  });
});
