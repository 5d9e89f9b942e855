/**
 * What binding 2026-07-28 children to one person costs: 32 concurrent SDK 2.x clients of one
 * person, then of 32 people, on an isolated server (children bound per person) and on a shared
 * one (children serve anyone), through one bridge that checks edge signatures as in production.
 * Each calls `echo` (quick: more children do not help), then a tool that waits 40 ms (as one
 * waiting on a network would: the pool must grow towards a child per client, 800 calls/s),
 * first while the pool grows, then once it has.
 */
import { randomBytes } from 'node:crypto';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { freePort } from '../scripts/processes.ts';
import { signingFetch } from '../scripts/signing-fetch.ts';
import type { Principal } from '../shared/policy/policy.ts';
import { startBridgeProcess } from './bridge-process.ts';
import { type Call, callRate } from './throughput.ts';
import { treeRss } from './tree.ts';

const clients = 32;
const modes = ['isolated', 'shared'] as const;
const crowds = [1, clients];

const slowMs = 40;
const slow: Call = () => ({
  name: 'trigger-long-running-operation',
  arguments: { duration: slowMs / 1000, steps: 1 },
});

const person = (n: number): Principal => ({ subject: `person-${n}`, groups: [], method: 'api_key' });

async function modernClient(url: URL, principal: Principal, secret: string): Promise<Client> {
  const pinned = { versionNegotiation: { mode: { pin: '2026-07-28' } } } as const;
  const c = new Client({ name: 'bench', version: '1.0.0' }, pinned);
  await c.connect(new StreamableHTTPClientTransport(url, { fetch: signingFetch(principal, secret) }));
  return c;
}

/** Each client's first call, one client at a time: a new person's costs a child's start in isolated mode. */
async function firstCalls(all: Client[]): Promise<number> {
  const t0 = performance.now();
  for (const [i, c] of all.entries())
    await c.callTool({ name: 'echo', arguments: { message: `first ${i}` } });
  return (performance.now() - t0) / all.length;
}

async function childrenOf(metricsUrl: string, server: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const lines = text.split('\n').filter((l) => l.startsWith('mcp_bridge_child_processes{'));
  const states = ['spare', 'leased', 'bound'].map((state) => `state="${state}"`);
  return lines
    .filter((l) => l.includes(`server="${server}"`) && states.some((s) => l.includes(s)))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

/** The 2025 sessions' warm pools start with the bridge: measured before they are up, the first row pays. */
async function warmPools(metricsUrl: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const text = await (await fetch(metricsUrl)).text();
    const ready = text.split('\n').filter((l) => l.startsWith('mcp_bridge_pool_ready{'));
    if (ready.length > 0 && ready.every((l) => l.endsWith(' 4'))) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function measureBinding(server: string[], seconds: number): Promise<Record<string, string>[]> {
  const secret = randomBytes(32).toString('hex');
  const [port, metricsPort] = [await freePort(), await freePort()];
  const transport = { type: 'stdio', command: process.execPath, args: server };
  const bridge = await startBridgeProcess(
    {
      listen: { port },
      metrics: { port: metricsPort },
      edge: { signatures: 'required' },
      // One server per measurement, so that each starts from its own warm spares.
      servers: modes.flatMap((sessions) =>
        crowds.map((people) => ({ name: `${sessions}-${people}`, transport, sessions, pool: 4 })),
      ),
    },
    { env: { BRIDGE_SIGNING_SECRET: secret } },
  );
  const rows: Record<string, string>[] = [];
  try {
    await warmPools(`http://127.0.0.1:${metricsPort}/metrics`);
    for (const mode of modes) {
      for (const people of crowds) {
        const name = `${mode}-${people}`;
        const url = new URL(`http://127.0.0.1:${port}/${name}/mcp`);
        const before = treeRss(bridge.child.pid ?? 0);
        const all = [];
        for (let i = 0; i < clients; i += 1) all.push(await modernClient(url, person(i % people), secret));
        const firstMs = await firstCalls(all);
        await callRate(all, seconds); // the children a burst needs start here, not in the figure
        const rate = await callRate(all, seconds);
        const grown = treeRss(bridge.child.pid ?? 0) - before;
        const children = await childrenOf(`http://127.0.0.1:${metricsPort}/metrics`, name);
        // From the pool echo left: how soon it grows, then what it settles at.
        const slowFirst = await callRate(all, seconds, slow);
        const slowRate = await callRate(all, seconds, slow);
        const slowChildren = await childrenOf(`http://127.0.0.1:${metricsPort}/metrics`, name);
        await Promise.all(all.map((c) => c.close()));
        rows.push({
          server: mode,
          people: String(people),
          'first call ms (mean)': firstMs.toFixed(1),
          'calls/s @32': rate.toFixed(0),
          children: String(children),
          'RSS grown MiB': (grown / 2 ** 20).toFixed(0),
          [`${slowMs} ms tool: calls/s, first ${seconds} s`]: slowFirst.toFixed(0),
          [`next ${seconds} s`]: slowRate.toFixed(0),
          'children after': String(slowChildren),
        });
      }
    }
  } finally {
    await bridge.stop();
  }
  return rows;
}
