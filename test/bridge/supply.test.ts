import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connect,
  crashing,
  fixture,
  fixtureServer,
  initializeRequest,
  metricsText,
  post,
  sample,
  startTestBridge,
  type TestBridge,
  until,
} from '../helpers/bridge.ts';
import { postModern } from '../helpers/modern.ts';

let bridge: TestBridge | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await bridge?.drain();
  bridge = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The fixture server once `flag` exists; before that, a command that dies at start, as a broken one does. */
function fixedWhen(flag: string) {
  const script = `import { existsSync } from 'node:fs';
if (!existsSync(${JSON.stringify(flag)})) { console.error('not installed yet'); process.exit(3); }
await import(${JSON.stringify(pathToFileURL(fixtureServer).href)});`;
  return { type: 'stdio', command: process.execPath, args: ['--input-type=module', '-e', script] };
}

/** The one JSON-RPC message of an answer, sent as JSON or as one SSE event. */
async function messageOf(response: Response): Promise<{ error?: { code?: unknown } }> {
  const text = await response.text();
  const data = text.startsWith('{') ? text : text.split('\n').find((line) => line.startsWith('data: '));
  return JSON.parse(data?.replace(/^data: /, '') ?? '{}');
}

const spawns = async () => sample(await metricsText(bridge as TestBridge), 'mcp_bridge_child_spawns_total');
const readyz = async () => (await fetch(new URL('/readyz', (bridge as TestBridge).url))).status;

describe('one supply of upstreams per server', () => {
  it('a command fixed while crash-looping is served again, without a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'supply-'));
    dirs.push(dir);
    const flag = join(dir, 'installed');
    bridge = await startTestBridge([{ name: 'late', transport: fixedWhen(flag), pool: 1 }]);
    await until(async () => (await readyz()) === 503, 'crash-looping');
    const refused = await post(bridge.mcpUrl('late'), initializeRequest);
    expect(refused.status).toBe(502);
    expect(await refused.json()).toMatchObject({
      error: { code: -32004, data: { reason: expect.stringMatching(/not installed yet/) } },
    });
    writeFileSync(flag, '');
    // The rest doubles from 250 ms while it fails: the retry that finds it fixed comes within 30 s.
    await until(async () => (await readyz()) === 200, 'ready once fixed', 35_000);
    const client = await connect(bridge.mcpUrl('late'));
    const result = await client.callTool({ name: 'fault_echo', arguments: { tag: 'back' } });
    expect((result.content as { text: string }[])[0]?.text).toMatch(/^back@/);
    await client.close();
  }, 60_000);

  it('a crash-looping command shared by all sessions gets no spawn per session either', async () => {
    bridge = await startTestBridge([{ name: 'broken', transport: crashing, sessions: 'shared' }]);
    const answers: { status: number; code: unknown }[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await post(bridge.mcpUrl('broken'), initializeRequest);
      const body = await messageOf(response);
      answers.push({ status: response.status, code: body.error?.code });
      expect(JSON.stringify(body)).not.toContain('hunter2');
    }
    // The first sessions see the child die under them; from the third failure on, the supply rests.
    expect(answers.every((a) => typeof a.code === 'number')).toBe(true);
    expect(answers.slice(3)).toEqual(Array(7).fill({ status: 502, code: -32004 }));
    // Three tries, then a rest that grows: ten sessions within a second cost a few spawns, not ten.
    expect(await spawns()).toBeLessThanOrEqual(5);
    const { body } = await postModern(bridge.mcpUrl('broken'), 'tools/list', {});
    expect(body.error.code).toBe(-32004);
    expect(await spawns()).toBeLessThanOrEqual(5);
  });
});

describe("spares primed with a recent client's initialize", () => {
  const names = async (client: Client) => (await client.listTools()).tools.map((tool) => tool.name);
  const seen = async (client: Client) => {
    const result = await client.callTool({ name: 'handshake_seen', arguments: {} });
    return JSON.parse((result.content as { text: string }[])[0]?.text ?? '{}');
  };
  const count = async (name: string, labels: Record<string, string> = {}) =>
    sample(await metricsText(bridge as TestBridge), name, { server: 'fixture', ...labels });
  const starts = (child: string) => count('mcp_bridge_session_starts_total', { child });
  const primed = () => count('mcp_bridge_child_processes', { state: 'primed' });
  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  /** A session that arrives once the pool has refilled, as sessions a moment apart do. */
  const session = async (name: string) => {
    await until(async () => (await count('mcp_bridge_pool_ready')) === 3, 'the pool refilled');
    const client = await connect((bridge as TestBridge).mcpUrl('fixture'), name);
    clients.push(client);
    return client;
  };

  /** A third session of `name`: the second showed that its initialize repeats, so spares were primed with it. */
  const primedSession = async (name: string) => {
    await session(name);
    await session(name);
    await until(async () => (await primed()) === 2, `two spares primed with ${name}'s initialize`);
    return session(name);
  };

  it('serve the next client sending the same one: the child sees that client, initialize once', async () => {
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 3 }]);
    const alpha = await primedSession('alpha');
    expect(await starts('primed')).toBe(1);
    expect(alpha.getServerVersion()).toEqual({ name: 'gateway-fixture', version: '1.0.0' });
    // Its first list is the child's answer to the one the bridge asked ahead: the child is asked once.
    expect(await names(alpha)).toEqual(await names(clients[0] as Client));
    expect(await seen(alpha)).toEqual({
      clientInfo: { name: 'alpha', version: '1.0.0' },
      capabilities: await seen(clients[0] as typeof alpha).then((s) => s.capabilities),
      initialize: 1,
      initialized: 1,
      lists: 1,
    });
    // Another kind of client is never given a child initialized for alpha: it gets the plain spare.
    const beta = await session('beta');
    expect(await seen(beta)).toMatchObject({
      clientInfo: { name: 'beta' },
      initialize: 1,
      initialized: 1,
      lists: 0,
    });
    expect(await starts('primed')).toBe(1);
    // Once beta's repeats, a spare is primed for it too, and the next beta gets it.
    await session('beta');
    await until(async () => (await primed()) === 2, 'spares primed again');
    const beta3 = await session('beta');
    expect(await starts('primed')).toBe(2);
    expect(await seen(beta3)).toMatchObject({ clientInfo: { name: 'beta' }, initialize: 1, initialized: 1 });
    expect(await starts('spawned')).toBe(0);
  });

  it("answer a client's first list from the list asked ahead only while the child has not said it changed", async () => {
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 3 }]);
    const alpha = await primedSession('alpha');
    await alpha.callTool({ name: 'announce_tools_changed', arguments: {} });
    expect(await names(alpha)).toContain('announce_tools_changed');
    expect(await seen(alpha)).toMatchObject({ initialize: 1, initialized: 1, lists: 2 });
    const second = await alpha.listTools();
    expect(second.tools.length).toBeGreaterThan(0);
    expect(await seen(alpha)).toMatchObject({ lists: 3 });
  });

  it('a server that asks its client something the moment it is initialized is answered, primed or not', async () => {
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 3 }]);
    const withRoots = async () => {
      await until(async () => (await count('mcp_bridge_pool_ready')) === 3, 'the pool refilled');
      const client = new Client(
        { name: 'roots-at-start', version: '1.0.0' },
        { capabilities: { roots: {} } },
      );
      client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [{ uri: 'file:///work' }] }));
      await client.connect(new StreamableHTTPClientTransport((bridge as TestBridge).mcpUrl('fixture')));
      clients.push(client);
      return client;
    };
    const rootsSeen = async (client: Client) => {
      await until(async () => (await seen(client)).roots !== undefined, 'the child had its answer');
      return seen(client);
    };
    // Asked before the client opened its GET stream: the question waits for that stream.
    expect(await rootsSeen(await withRoots())).toMatchObject({ roots: ['file:///work'], lists: 0 });
    await withRoots();
    await until(async () => (await primed()) === 2, 'spares primed for this client');
    // Asked while the spare waited for its client: kept for the client, and answered once it came.
    const primedOne = await withRoots();
    expect(await starts('primed')).toBe(1);
    expect(await rootsSeen(primedOne)).toMatchObject({ roots: ['file:///work'], initialized: 1, lists: 1 });
  });

  it('a client whose initialize kills servers costs a spare, not the supply: others are served', async () => {
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 3 }]);
    // Its own sessions fail; the second makes its params repeat, so a spare is primed with them and dies.
    for (let i = 0; i < 2; i++) {
      await expect(session('fatal-to-servers')).rejects.toThrow(/exited with code 4/);
    }
    const crashes = () => count('mcp_bridge_child_exits_total', { reason: 'crash' });
    await until(async () => (await crashes()) === 3, 'the primed spare died too');
    expect(await primed()).toBe(0);
    expect(await readyz()).toBe(200);
    // The operator is told what happened, and not that the command is failing.
    const logs = (bridge as TestBridge).logs;
    expect(logs.some((line) => line.includes('initialize, sent ahead'))).toBe(true);
    expect(logs.some((line) => line.includes('warm child exited before use'))).toBe(false);
    expect(await seen(await session('alpha'))).toMatchObject({
      clientInfo: { name: 'alpha' },
      initialize: 1,
    });
    expect(await starts('warm')).toBe(3);
  });

  it('are not made for params that never repeat: no spawn beyond the refills', async () => {
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 3 }]);
    for (const name of ['one', 'two', 'three', 'four']) await session(name);
    await session('five');
    expect(await starts('primed')).toBe(0);
    expect(await primed()).toBe(0);
    // The pool's three, and one refill for each of the five sessions.
    await until(async () => (await count('mcp_bridge_pool_ready')) === 3, 'the pool refilled');
    expect(await count('mcp_bridge_child_spawns_total')).toBe(8);
  });
});
