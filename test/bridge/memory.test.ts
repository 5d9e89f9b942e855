import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../bridge/log.ts';
import { cgroupLimit, MemoryBudget, ProcessTree } from '../../bridge/upstream/memory.ts';
import {
  connect,
  everything,
  fixture,
  initializeRequest,
  metricsText,
  post,
  sample,
  startTestBridge,
  type TestBridge,
  until,
} from '../helpers/bridge.ts';

const mib = 2 ** 20;
let bridge: TestBridge | undefined;
const clients: Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await bridge?.drain();
  bridge = undefined;
});

/** A /proc whose processes use what the test says: the bridge 100 MiB, each child `child` MiB. */
class Measured extends ProcessTree {
  sizes = new Map<number, number>();
  override async children() {
    return new Map([[process.pid, [...this.sizes.keys()]]]);
  }
  override async bytesOf(pid: number) {
    return pid === process.pid ? 100 * mib : this.sizes.get(pid);
  }
}

describe('admission by memory', { timeout: 120_000 }, () => {
  it('admits a child while it fits below the share of the limit, counts young children at the estimate, and admits again once they are gone', async () => {
    const tree = new Measured();
    let now = 0;
    const settings = { limitBytes: 1000 * mib, admitBelow: 0.5, childEstimateBytes: 50 * mib };
    const budget = new MemoryBudget(settings, undefined, createLogger('error'), { tree, now: () => now });
    await budget.measure();
    // 100 MiB used; one child at the 50 MiB estimate fits below 500 MiB eight times.
    for (let pid = 1; pid <= 8; pid++) {
      expect(budget.admits().ok, `child ${pid}`).toBe(true);
      budget.track(pid);
    }
    expect(budget.admits()).toEqual({ ok: false, usedBytes: 500 * mib, limitBytes: 1000 * mib });
    // A second later they use 30 MiB each, but are still loading: each still counts at 50 MiB.
    for (let pid = 1; pid <= 8; pid++) tree.sizes.set(pid, 30 * mib);
    now = 1000;
    await budget.measure();
    expect(budget.admits().ok).toBe(false);
    // Settled, they count at what they use (340 MiB in all), and 30 MiB is the next child's estimate.
    now = 6000;
    await budget.measure();
    expect(budget.admits().ok).toBe(true);
    for (let pid = 9; pid <= 13; pid++) budget.track(pid);
    expect(budget.admits().ok).toBe(false);
    tree.sizes.clear();
    await budget.measure();
    expect(budget.admits().ok).toBe(true);
  });

  it('reads the container limit from cgroup v2 or v1, and none from "max" or v1’s unlimited', () => {
    const files = (entries: Record<string, string>) => (path: string) => {
      if (!(path in entries)) throw new Error('ENOENT');
      return entries[path] as string;
    };
    expect(cgroupLimit(files({ '/sys/fs/cgroup/memory.max': '1073741824\n' }))).toBe(1024 * mib);
    expect(cgroupLimit(files({ '/sys/fs/cgroup/memory.max': 'max\n' }))).toBeUndefined();
    expect(cgroupLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '2147483648' }))).toBe(
      2048 * mib,
    );
    expect(
      cgroupLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712' })),
    ).toBeUndefined();
    expect(cgroupLimit(files({}))).toBeUndefined();
  });

  it('answers a new session 503 with Retry-After near the limit, saying so, and counts it', async () => {
    // The test process alone uses more than 64 MiB: no child may start.
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 0 }], {
      memory: { limitBytes: 64 * mib },
    });
    const refused = await post(bridge.mcpUrl('fixture'), initializeRequest);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    const { error } = (await refused.json()) as { error: { message: string; data: { reason: string } } };
    expect(error.message).toMatch(/near its memory limit and starts no more MCP server processes/);
    expect(bridge.logs.join('\n')).toMatch(/session refused: near the memory limit.*"limitBytes":67108864/);
    expect(error.data.reason).toBe('memory');
    const text = await metricsText(bridge);
    expect(sample(text, 'mcp_bridge_rejected_requests_total', { reason: 'memory_full' })).toBe(1);
    expect(sample(text, 'mcp_bridge_child_spawns_total')).toBe(0);
  });

  it('measures what its real children use, and shows it beside the limit', async () => {
    bridge = await startTestBridge([{ name: 'everything', transport: everything, pool: 1 }], {
      memory: { limitBytes: 64 * 1024 * mib },
    });
    clients.push(await connect(bridge.mcpUrl('everything')));
    const estimate = 96 * mib;
    const perChild = await until(
      async () => {
        const measured = sample(await metricsText(bridge as TestBridge), 'mcp_bridge_memory_bytes', {
          measure: 'per_child',
        });
        return measured !== estimate && measured > 0 ? measured : undefined;
      },
      'a measured child',
      90_000,
    );
    expect(perChild).toBeGreaterThan(5 * mib);
    expect(perChild).toBeLessThan(1024 * mib);
    const text = await metricsText(bridge);
    expect(sample(text, 'mcp_bridge_memory_bytes', { measure: 'used' })).toBeGreaterThan(perChild);
    expect(sample(text, 'mcp_bridge_memory_bytes', { measure: 'limit' })).toBe(64 * 1024 * mib);
  });
});

describe('sessions opened and never used', { timeout: 120_000 }, () => {
  it('end after unusedSessionSeconds, their children with them, while a used session stays', async () => {
    bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 0, limits: { unusedSessionSeconds: 1 } },
    ]);
    const unused = await connect(bridge.mcpUrl('fixture'));
    const used = await connect(bridge.mcpUrl('fixture'));
    clients.push(unused, used);
    await used.listTools();
    await until(
      async () =>
        sample(await metricsText(bridge as TestBridge), 'mcp_bridge_sessions_ended_total', {
          reason: 'idle',
        }) === 1 || undefined,
      'the unused session ended',
      90_000,
    );
    expect((await used.listTools()).tools.length).toBeGreaterThan(0);
    await expect(unused.listTools()).rejects.toThrow(/Session not found/);
    const text = await metricsText(bridge);
    expect(sample(text, 'mcp_bridge_sessions', { server: 'fixture' })).toBe(1);
  });
});
