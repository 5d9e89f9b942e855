import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connect,
  everything,
  fixture,
  metricsText,
  sample,
  startTestBridge,
  type TestBridge,
  until,
} from '../helpers/bridge.ts';
import { modernClient, postModern } from '../helpers/modern.ts';

let bridge: TestBridge | undefined;
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await bridge?.drain();
  bridge = undefined;
});

async function portal(query = ''): Promise<Client> {
  const client = await connect(new URL(`${(bridge as TestBridge).url}/mcp${query}`));
  clients.push(client);
  return client;
}

const textOf = (result: Record<string, unknown>) => (result.content as { text: string }[])[0]?.text;

describe('the portal at the bridge: every server behind /mcp', () => {
  it('lists every member under <server>__<name> and routes each call, prompt and resource to its member', async () => {
    bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 1 },
      { name: 'everything', transport: everything, pool: 1 },
    ]);
    const client = await portal();
    expect(client.getServerVersion()?.name).toBe('mcp-edge-gateway-portal');
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('fixture__fault_echo');
    expect(names).toContain('everything__echo');
    expect(names.every((n) => /^(fixture|everything)__[A-Za-z0-9_.-]+$/.test(n))).toBe(true);

    const echoed = await client.callTool({ name: 'fixture__fault_echo', arguments: { tag: 'a' } });
    expect(textOf(echoed)).toMatch(/^a@/);
    // A member's progress reaches the client on the request that asked for it.
    const progress: number[] = [];
    const done = await client.callTool(
      { name: 'fixture__fault_progress', arguments: { steps: 3, tag: 9 } },
      undefined,
      {
        onprogress: (p) => progress.push(p.progress),
      },
    );
    expect(textOf(done)).toBe('done 9');
    expect(progress).toEqual([1, 2, 3]);
    const everythingEcho = await client.callTool({ name: 'everything__echo', arguments: { message: 'b' } });
    expect(textOf(everythingEcho)).toBe('Echo: b');
    // Prometheus counts each call as its member's, under the member's own tool name.
    const text = await metricsText(bridge);
    const labels = { server: 'everything', tool: 'echo', status: 'success' };
    expect(sample(text, 'toolhive_mcp_tool_calls_total', labels)).toBe(1);
    expect(
      sample(text, 'toolhive_mcp_requests_total', {
        server: 'fixture',
        transport: 'portal',
        mcp_method: 'tools/call',
      }),
    ).toBe(2);

    const prompts = (await client.listPrompts()).prompts.map((p) => p.name);
    expect(prompts).toContain('everything__simple-prompt');
    const prompt = await client.getPrompt({ name: 'everything__simple-prompt' });
    expect(prompt.messages.length).toBeGreaterThan(0);

    const resources = (await client.listResources()).resources.map((r) => r.uri);
    const uri = resources.find((u) => u.startsWith('portal://everything/demo://'));
    expect(uri).toBeDefined();
    const read = await client.readResource({ uri: uri as string });
    expect(read.contents[0]?.uri).toBe((uri as string).slice('portal://everything/'.length));

    const unknown = await client.callTool({ name: 'nobody__echo', arguments: {} }).catch((e: Error) => e);
    expect(String(unknown)).toMatch(/-32602.*nobody__echo is no name of this portal's servers/);
  });

  it('reaches only the members the query names; a member question reaches the client and its answer goes back', async () => {
    bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 1 },
      { name: 'everything', transport: everything, pool: 0 },
    ]);
    const client = await portal('?servers=fixture');
    client.setRequestHandler(ElicitRequestSchema, async () => ({
      action: 'accept',
      content: { name: 'Ada' },
    }));
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((n) => n.startsWith('fixture__'))).toBe(true);
    const refused = await client
      .callTool({ name: 'everything__echo', arguments: { message: 'x' } })
      .catch((e) => e);
    expect(String(refused)).toMatch(/-32602.*everything__echo is no name of this portal's servers/);
    const asked = await client.callTool({
      name: 'fixture__test_input_required_result_elicitation',
      arguments: {},
    });
    expect(JSON.stringify(asked.content)).toContain('Ada');
  });

  it('a member that crashes fails its own call only; the portal session and the other members go on', async () => {
    bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 1 },
      { name: 'other', transport: fixture, pool: 1 },
    ]);
    const client = await portal();
    expect(textOf(await client.callTool({ name: 'other__fault_echo', arguments: { tag: 'x' } }))).toMatch(
      /^x@/,
    );
    const crashed = await client
      .callTool({ name: 'fixture__fault_crash', arguments: {} })
      .catch((e: Error) => e);
    expect(String(crashed)).toMatch(/-32003.*fixture: the MCP server exited/);
    expect(textOf(await client.callTool({ name: 'other__fault_echo', arguments: { tag: 'y' } }))).toMatch(
      /^y@/,
    );
    // The crashed member starts afresh on its next use.
    expect(textOf(await client.callTool({ name: 'fixture__fault_echo', arguments: { tag: 'z' } }))).toMatch(
      /^z@/,
    );
  });

  it('serves 2026-07-28 clients statelessly: merged lists, calls routed by name, a member’s question and its retry', async () => {
    bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 1 },
      { name: 'everything', transport: everything, pool: 1 },
    ]);
    const url = new URL(`${bridge.url}/mcp`);
    const client = await modernClient(url, {
      elicitation: async () => ({ action: 'accept', content: { name: 'Ada' } }),
    });
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('fixture__fault_echo');
      expect(names).toContain('everything__echo');
      const echoed = await client.callTool({ name: 'everything__echo', arguments: { message: 'stateless' } });
      expect(echoed.content).toEqual([{ type: 'text', text: 'Echo: stateless' }]);
      const asked = await client.callTool({
        name: 'fixture__test_input_required_result_elicitation',
        arguments: {},
      });
      expect(JSON.stringify(asked.content)).toContain('Ada');
    } finally {
      await client.close();
    }
    const discover = await postModern(url, 'server/discover', {});
    expect(discover.body.result._meta['io.modelcontextprotocol/serverInfo'].name).toBe(
      'mcp-edge-gateway-portal',
    );
    expect(Object.keys(discover.body.result.capabilities)).toEqual(
      expect.arrayContaining(['tools', 'prompts']),
    );
    // One listen stream for every member: a list change of any member reaches it, tagged.
    const listener = await modernClient(url);
    const caller = await modernClient(url);
    try {
      const changed: unknown[] = [];
      listener.setNotificationHandler('notifications/tools/list_changed', (n) => {
        changed.push(n);
      });
      const subscription = await listener.listen({ toolsListChanged: true });
      expect(subscription.honoredFilter).toEqual({ toolsListChanged: true });
      await caller.callTool({ name: 'fixture__announce_tools_changed', arguments: {} });
      await until(() => changed.length > 0, 'the member’s list change on the portal’s listen stream');
      expect(JSON.stringify(changed[0])).toContain('io.modelcontextprotocol/subscriptionId');
      await subscription.close();
    } finally {
      await Promise.all([listener.close(), caller.close()]);
    }
    const unknown = await postModern(url, 'tools/call', { name: 'nobody__echo', arguments: {} });
    expect(unknown.body.error).toMatchObject({
      code: -32602,
      message: expect.stringContaining("nobody__echo is no name of this portal's servers"),
    });
  });

  it('a member’s session limit counts the portal’s use of it, and is freed when the portal session ends', async () => {
    bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 1, limits: { maxSessions: 1 } },
    ]);
    const own = await connect(bridge.mcpUrl('fixture'));
    clients.push(own);
    const client = await portal();
    const refused = await client
      .callTool({ name: 'fixture__fault_echo', arguments: { tag: 'x' } })
      .catch((e) => e);
    expect(String(refused)).toContain('-32004');
    expect((refused as { data?: { reason?: string } }).data?.reason).toBe(
      'fixture: too many sessions for this server; retry later',
    );
    await (own.transport as StreamableHTTPClientTransport).terminateSession();
    await until(
      () => ((bridge as TestBridge).endpoints.get('fixture')?.openSessions ?? 1) === 0,
      'the session closed',
    );
    expect(textOf(await client.callTool({ name: 'fixture__fault_echo', arguments: { tag: 'y' } }))).toMatch(
      /^y@/,
    );
    const busy = async () =>
      sample(await metricsText(bridge as TestBridge), 'mcp_bridge_child_processes', {
        server: 'fixture',
        state: 'busy',
      });
    expect(await busy()).toBe(1);
    // While the portal holds it, the server's own URL is full.
    const full = await connect(bridge.mcpUrl('fixture')).catch((e: Error) => e);
    expect(String(full)).toMatch(/Too many sessions/);
    await (client.transport as StreamableHTTPClientTransport).terminateSession();
    await until(() => ((bridge as TestBridge).endpoints.get('fixture')?.openSessions ?? 1) === 0, 'released');
    expect(await busy()).toBe(0);
  });

  it('a member started for the same kind of client gets a primed child; the child sees that client, once', async () => {
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 2 }]);
    const count = async (name: string, labels: Record<string, string>) =>
      sample(await metricsText(bridge as TestBridge), name, { server: 'fixture', ...labels });
    const seen = async (client: Client) =>
      JSON.parse(textOf(await client.callTool({ name: 'fixture__handshake_seen', arguments: {} })) ?? '{}');
    // Two portal sessions show that this client's initialize repeats; the third is primed for.
    await seen(await portal());
    await seen(await portal());
    await until(async () => (await count('mcp_bridge_child_processes', { state: 'primed' })) === 1, 'primed');
    const client = await portal();
    const third = await seen(client);
    expect(await count('mcp_bridge_session_starts_total', { child: 'primed' })).toBe(1);
    // Its list, asked ahead, is the portal's first list of it: the child is asked once.
    expect(third).toMatchObject({
      clientInfo: { name: 'test-client' },
      initialize: 1,
      initialized: 1,
      lists: 1,
    });
    expect((await client.listTools()).tools.map((tool) => tool.name)).toContain('fixture__handshake_seen');
    expect(await seen(client)).toMatchObject({ lists: 1 });
    await client.listTools();
    expect(await seen(client)).toMatchObject({ lists: 2 });
  });

  it('a member the caller may no longer reach is ended at their next request, its child with it', async () => {
    bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 1 },
      { name: 'other', transport: fixture, pool: 1 },
    ]);
    const test = bridge;
    const open = (name: string) => test.endpoints.get(name)?.openSessions;
    let query = '?servers=fixture,other';
    // The same session, its requests sent to whatever member set the edge names now.
    const shifting = (async (input: URL | Request | string, init?: RequestInit) => {
      const url = new URL(input instanceof Request ? input.url : input);
      url.search = query;
      return fetch(url, init);
    }) as typeof fetch;
    const client = await connect(new URL(`${test.url}/mcp`), 'shifting', undefined, shifting);
    clients.push(client);
    expect(textOf(await client.callTool({ name: 'other__fault_echo', arguments: { tag: 'a' } }))).toMatch(
      /^a@/,
    );
    expect(open('other')).toBe(1);
    query = '?servers=fixture';
    const refused = await client
      .callTool({ name: 'other__fault_echo', arguments: { tag: 'b' } })
      .catch((e) => e);
    expect(String(refused)).toContain("other__fault_echo is no name of this portal's servers");
    await until(() => open('other') === 0, 'the dropped member released');
    expect(textOf(await client.callTool({ name: 'fixture__fault_echo', arguments: { tag: 'c' } }))).toMatch(
      /^c@/,
    );
  });
});
