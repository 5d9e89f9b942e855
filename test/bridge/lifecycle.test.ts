import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { StdioTransport } from '../../bridge/upstream/stdio-transport.ts';
import {
  connect,
  crashing,
  fixture,
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
const clients: Client[] = [];

async function open(server = 'fixture'): Promise<Client> {
  const client = await connect((bridge as TestBridge).mcpUrl(server));
  clients.push(client);
  return client;
}

async function echo(client: Client, tag: string): Promise<string> {
  const result = await client.callTool({ name: 'fault_echo', arguments: { tag } });
  return (result.content as { text: string }[])[0]?.text ?? '';
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await bridge?.drain();
  bridge = undefined;
});

describe('child process lifecycle', () => {
  it('a crash fails that session at once; other sessions are untouched; the pool refills', async () => {
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 2 }]);
    const [victim, bystander] = [await open(), await open()];
    const victimSession = (victim.transport as StreamableHTTPClientTransport).sessionId ?? '';
    // The crash's own error, not a timeout's (the request bound is 120 s, the client's 60 s).
    const error = await victim.callTool({ name: 'fault_crash', arguments: {} }).catch((e: Error) => e);
    expect(String(error)).toMatch(
      /the MCP server exited with code \d+; this session has ended, initialize a new one/,
    );
    expect(await echo(bystander, 'still here')).toMatch(/^still here@/);
    const later = await post(
      bridge.mcpUrl('fixture'),
      { jsonrpc: '2.0', id: 7, method: 'ping' },
      { 'mcp-session-id': victimSession },
    );
    expect(later.status).toBe(404);
    await until(() => bridge?.endpoints.get('fixture') && sampleReady(bridge), 'pool refilled');
    const text = await metricsText(bridge);
    expect(sample(text, 'mcp_bridge_child_exits_total', { reason: 'crash' })).toBe(1);
    expect(sample(text, 'mcp_bridge_sessions_ended_total', { reason: 'upstream_exit' })).toBe(1);
    expect(
      sample(text, 'toolhive_mcp_requests_total', { mcp_method: 'tools/call', status_code: '502' }),
    ).toBe(1);
  });

  it('a quiet pool lets its children go, and the next session brings them back', async () => {
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 2, poolIdleSeconds: 1 }]);
    const count = async (name: string, labels: Record<string, string> = {}) =>
      sample(await metricsText(bridge as TestBridge), name, { server: 'fixture', ...labels });
    const spawns = () => count('mcp_bridge_child_spawns_total');
    // Let go: closed once warm, or at their start if the quiet period ended first (a busy machine).
    const closed = () => count('mcp_bridge_child_exits_total', { reason: 'closed' });
    await until(async () => (await closed()) === 2, 'the quiet pool let its children go');
    // Nobody asks: no child is started again.
    expect(await spawns()).toBe(2);
    expect(await count('mcp_bridge_child_processes', { state: 'warm' })).toBe(0);
    expect(await echo(await open(), 'after the quiet')).toMatch(/^after the quiet@/);
    // The session's own child, then two spares again; a second quiet period lets those go too.
    await until(async () => (await closed()) === 4, 'the pool filled and let go again');
    expect(await spawns()).toBe(5);
    expect(await count('mcp_bridge_child_processes', { state: 'busy' })).toBe(1);
  });

  it('a request the child never answers gets a timeout error and the session lives on', async () => {
    // The bound under test is the hanging tool's own: every other request keeps the default 120 s.
    bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 1, limits: { toolTimeoutSeconds: { fault_hang: 2 } } },
    ]);
    const client = await open();
    const error = await client
      .callTool({ name: 'fault_hang', arguments: {} }, undefined, { timeout: 10_000 })
      .catch((e: Error) => e);
    expect(String(error)).toContain('Request timed out after 2 s');
    expect(await echo(client, 'after')).toMatch(/^after@/);
  });

  it('a non-JSON line on stdout is dropped and counted; the session survives', async () => {
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 1 }]);
    const client = await open();
    const result = await client.callTool({ name: 'fault_garbage', arguments: {} });
    expect(result.content).toEqual([{ type: 'text', text: 'answered after garbage' }]);
    expect(
      sample(await metricsText(bridge), 'mcp_bridge_child_dropped_lines_total', { reason: 'not_json' }),
    ).toBe(1);
  });

  it('a line larger than the cap ends the session with a clear error', async () => {
    bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 1, limits: { maxLineBytes: 64 * 1024 } },
    ]);
    const client = await open();
    const error = await client
      .callTool({ name: 'fault_big', arguments: { bytes: 256 * 1024 } })
      .catch((e: Error) => e);
    expect(String(error)).toContain('larger than the line limit');
    expect(
      sample(await metricsText(bridge), 'mcp_bridge_child_dropped_lines_total', { reason: 'too_long' }),
    ).toBe(1);
  });

  it('child stderr reaches the log line by line, truncated and rate-capped', async () => {
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 1 }]);
    const client = await open();
    await client.callTool({ name: 'fault_stderr', arguments: { lines: 500, chars: 10_000 } });
    const lines = await until(() => {
      const found = bridge?.logs.filter((l) => l.includes('"child stderr"')) ?? [];
      return found.length >= 100 ? found : undefined;
    }, 'stderr lines');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(2500);
    await until(
      async () => sample(await metricsText(bridge as TestBridge), 'mcp_bridge_child_dropped_lines_total') > 0,
      'rate cap',
    );
  });

  it('refuses sessions past the limit with 503 and Retry-After, also in a burst', async () => {
    bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 1, limits: { maxSessions: 2 } },
    ]);
    const url = bridge.mcpUrl('fixture');
    const responses = await Promise.all(Array.from({ length: 5 }, () => post(url, initializeRequest)));
    await Promise.all(responses.map((r) => r.text()));
    expect(responses.map((r) => r.status).sort()).toEqual([200, 200, 503, 503, 503]);
    expect(responses.find((r) => r.status === 503)?.headers.get('retry-after')).toBe('5');
  });

  it('reaps idle sessions and ends their children', async () => {
    bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 1, limits: { idleTimeoutSeconds: 0.3 } },
    ]);
    // No call after connecting: on a busy machine the session may be reaped before one arrives.
    await open();
    const ended = async () => {
      const text = await metricsText(bridge as TestBridge);
      const idle = sample(text, 'mcp_bridge_sessions_ended_total', { reason: 'idle' }) === 1;
      return idle && sample(text, 'mcp_bridge_child_exits_total', { reason: 'closed' }) >= 1;
    };
    await until(ended, 'idle session reaped and its child ended');
    expect(sample(await metricsText(bridge), 'toolhive_mcp_active_connections')).toBe(0);
  });

  it('a child that stops answering is ended when a ping goes unanswered, in both modes; a busy one is not', async () => {
    const limits = { livenessSeconds: 2 };
    bridge = await startTestBridge([
      { name: 'isolated', transport: fixture, pool: 1, limits },
      { name: 'shared', transport: fixture, sessions: 'shared', limits },
      { name: 'busy', transport: fixture, pool: 0, limits: { livenessSeconds: 4 } },
    ]);
    const test = bridge;
    const busy = await connect(test.mcpUrl('busy'));
    const working = busy.callTool({ name: 'fault_sleep', arguments: { ms: 9000 } });
    for (const server of ['isolated', 'shared']) {
      const client = await connect(test.mcpUrl(server));
      const error = await client.callTool({ name: 'fault_wedge', arguments: {} }).catch((e: Error) => e);
      expect(String(error)).toMatch(
        /-32003: the MCP server stopped answering \(no reply to a ping within 2 s/,
      );
      await client.close();
      // The next session gets a child that answers (shared: a new one replaced the wedged one).
      const next = await connect(test.mcpUrl(server));
      expect(await echo(next, 'after')).toMatch(/^after@/);
      await next.close();
      expect(
        sample(await metricsText(test), 'mcp_bridge_child_exits_total', { server, reason: 'wedged' }),
      ).toBe(1);
    }
    expect((await working).content).toEqual([{ type: 'text', text: 'slept 9000' }]);
    await busy.close();
    expect(
      sample(await metricsText(test), 'mcp_bridge_child_exits_total', { server: 'busy', reason: 'wedged' }),
    ).toBe(0);
  });

  it('a crash-looping command backs off, /readyz says why, and new sessions get 502 with the reason, without a spawn each', async () => {
    bridge = await startTestBridge([
      { name: 'broken', transport: crashing, pool: 2 },
      { name: 'fine', transport: fixture, pool: 1 },
    ]);
    const url = new URL('/readyz', bridge.url);
    await until(async () => (await fetch(url)).status === 503, 'not ready');
    const reason = expect.stringMatching(
      /^before it was ready, the MCP server exited with code 3; its last stderr: .*https:\/\/\*\*\*@registry\.example\/x .*SELF_SIGNED_CERT_IN_CHAIN/,
    );
    const readyz = await until(async () => {
      const body = (await (await fetch(url)).json()) as { servers: Record<string, { state: string }> };
      return body.servers.fine?.state === 'ready' ? body : undefined;
    }, 'the working server ready');
    expect(readyz).toEqual({
      status: 'not ready',
      servers: { broken: { state: 'failing', reason }, fine: { state: 'ready' } },
    });
    const warned = bridge.logs.filter((line) => line.includes('"level":"warn"') && line.includes('code 3'));
    expect(warned.length).toBeGreaterThan(0);
    expect(bridge.logs.join('\n')).not.toContain('hunter2');
    const spawnsAfterReady = sample(await metricsText(bridge), 'mcp_bridge_child_spawns_total');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // Backoff doubles: at most a few more attempts in a second, never a spin.
    expect(
      sample(await metricsText(bridge), 'mcp_bridge_child_spawns_total') - spawnsAfterReady,
    ).toBeLessThan(6);
    expect((await fetch(new URL('/healthz', bridge.url))).status).toBe(200);
    const before = sample(await metricsText(bridge), 'mcp_bridge_child_spawns_total');
    const refused = await post(bridge.mcpUrl('broken'), initializeRequest);
    expect(refused.status).toBe(502);
    const answer = await refused.json();
    expect(answer).toMatchObject({ error: { code: -32004, data: { reason } } });
    expect(JSON.stringify(answer)).not.toContain('hunter2');
    expect(sample(await metricsText(bridge), 'mcp_bridge_child_spawns_total') - before).toBeLessThan(2);
  });

  it('a crash-looping command gets no spawn per 2026-07-28 request either', async () => {
    bridge = await startTestBridge([{ name: 'broken', transport: crashing, pool: 0 }]);
    const spawns = async () =>
      sample(await metricsText(bridge as TestBridge), 'mcp_bridge_child_spawns_total');
    const answers = [];
    for (let i = 0; i < 10; i++) {
      const answer = await postModern(bridge.mcpUrl('broken'), 'tools/list', {});
      answers.push([answer.status, answer.body.error.code]);
    }
    expect(new Set(answers.map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify([502, -32004])]));
    // Three tries, then a rest that grows: ten requests within a second cost at most a few spawns,
    // and the rest is idle, not a loop retrying (each try would log a failed start).
    expect(await spawns()).toBeLessThanOrEqual(5);
    const failedStarts = bridge.logs.filter((line) => line.includes('stateless child failed to start'));
    expect(failedStarts.length).toBeLessThanOrEqual(10);
  });
});

function sampleReady(b: TestBridge | undefined): Promise<boolean> {
  if (!b) return Promise.resolve(false);
  return metricsText(b).then((t) => sample(t, 'mcp_bridge_pool_ready', { server: 'fixture' }) === 2);
}

describe('a child that does not read its input', () => {
  it('settles every write that waited for room once the child is gone, with one listener for all of them', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    const transport = new StdioTransport({
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      env: {},
      cwd: undefined,
      maxLineBytes: 1 << 20,
    });
    try {
      await transport.start();
      const line = JSON.stringify({
        jsonrpc: '2.0',
        method: 'notifications/message',
        params: { data: 'x'.repeat(16_384) },
      });
      // 40 lines of 16 KiB: past the pipe's 64 KiB and stdin's own buffer, so most wait for room.
      const writes = Array.from({ length: 40 }, () => transport.sendText(line));
      const closed = transport.close();
      const outcomes = await Promise.race([
        Promise.allSettled(writes),
        new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 20_000)),
      ]);
      await closed;
      expect(outcomes).not.toBe('still waiting');
      const rejected = (outcomes as PromiseSettledResult<void>[]).filter((o) => o.status === 'rejected');
      expect(rejected.length).toBeGreaterThan(0);
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await transport.close();
    }
  }, 40_000);
});
