/**
 * `npm run bench:faults`: what a client sees when a server misbehaves behind the bridge, how
 * fast, and what the metrics say. Figures, not verdicts: the behaviour itself is asserted in
 * test/bridge/lifecycle.test.ts and test/bridge/process.test.ts; timings drift with load.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { alive, childrenOf, listeningUrl } from '../scripts/processes.ts';
import {
  connect,
  fixture,
  fixtureServer,
  initializeRequest,
  metricsText,
  post,
  sample,
  startTestBridge,
  type TestBridge,
  until,
} from '../test/helpers/bridge.ts';
import { startBridgeProcess } from './bridge-process.ts';

interface Row {
  fault: string;
  client: string;
  ms: number;
  metrics: string;
}

const rows: Row[] = [];
const elapsed = (since: number) => Math.round(performance.now() - since);

async function withBridge(servers: unknown[], run: (bridge: TestBridge) => Promise<void>): Promise<void> {
  const bridge = await startTestBridge(servers);
  try {
    await run(bridge);
  } finally {
    await bridge.drain(1);
  }
}

async function crash(): Promise<void> {
  await withBridge([{ name: 'fixture', transport: fixture, pool: 2 }], async (bridge) => {
    const [victim, bystander] = [
      await connect(bridge.mcpUrl('fixture')),
      await connect(bridge.mcpUrl('fixture')),
    ];
    const t0 = performance.now();
    const error = await victim.callTool({ name: 'fault_crash', arguments: {} }).catch((e: Error) => e);
    const ms = elapsed(t0);
    const ok = await bystander.callTool({ name: 'fault_echo', arguments: { tag: 'b' } }).then(
      () => 'answered',
      (e: Error) => `failed (${e.message})`,
    );
    const m = await metricsText(bridge);
    rows.push({
      fault: 'child crashes mid-call',
      client: `${String(error).slice(0, 70)}…; the other session: ${ok}`,
      ms,
      metrics: `child_exits{crash}=${sample(m, 'mcp_bridge_child_exits_total', { reason: 'crash' })}, requests{502}=${sample(m, 'toolhive_mcp_requests_total', { status_code: '502' })}`,
    });
    await bystander.close();
  });
}

async function hang(): Promise<void> {
  const servers = [{ name: 'fixture', transport: fixture, pool: 1, limits: { requestTimeoutSeconds: 1 } }];
  await withBridge(servers, async (bridge) => {
    // A child still booting would count against the 1 s limit: start from a warm one.
    await until(
      async () => sample(await metricsText(bridge), 'mcp_bridge_pool_ready') >= 1 || undefined,
      'warm',
    );
    const client = await connect(bridge.mcpUrl('fixture'));
    const t0 = performance.now();
    const error = await client
      .callTool({ name: 'fault_hang', arguments: {} }, undefined, { timeout: 10_000 })
      .catch((e: Error) => e);
    const ms = elapsed(t0);
    const after = await client.callTool({ name: 'fault_echo', arguments: { tag: 'a' } }).then(
      () => 'answers',
      (e: Error) => `failed too (${e.message})`,
    );
    const m = await metricsText(bridge);
    rows.push({
      fault: 'child never answers (timeout 1 s)',
      client: `${String(error).slice(0, 60)}; the same session then ${after}`,
      ms,
      metrics: `requests{504}=${sample(m, 'toolhive_mcp_requests_total', { status_code: '504' })}`,
    });
    await client.close();
  });
}

async function flood(): Promise<void> {
  await withBridge([{ name: 'fixture', transport: fixture, pool: 1 }], async (bridge) => {
    const client = await connect(bridge.mcpUrl('fixture'));
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) await client.callTool({ name: 'fault_garbage', arguments: {} });
    const ms = elapsed(t0);
    const m = await metricsText(bridge);
    rows.push({
      fault: 'child writes 200 non-JSON lines to stdout',
      client: 'all 200 calls answered',
      ms,
      metrics: `dropped_lines{not_json}=${sample(m, 'mcp_bridge_child_dropped_lines_total', { reason: 'not_json' })}`,
    });
    await client.close();
  });
}

async function crashLoop(): Promise<void> {
  const broken = { ...fixture, args: [...fixture.args, '--exit-at-start'] };
  await withBridge([{ name: 'broken', transport: broken, pool: 2 }], async (bridge) => {
    const t0 = performance.now();
    await until(async () => (await fetch(new URL('/readyz', bridge.url))).status === 503 || undefined, '503');
    const ms = elapsed(t0);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const spawns = sample(await metricsText(bridge), 'mcp_bridge_child_spawns_total');
    const session = await post(bridge.mcpUrl('broken'), initializeRequest);
    const answer = (await session.text()).replace(/\s+/g, ' ').slice(0, 90);
    rows.push({
      fault: 'server exits at start-up (crash loop)',
      client: `/readyz 503; a new session gets ${session.status}: ${answer}`,
      ms,
      metrics: `child_spawns in the first ~5 s: ${spawns} (backoff, no spin)`,
    });
  });
}

/** SIGTERM to a bridge process with 20 calls in flight: they finish, new sessions are refused, nothing is left. */
async function sigterm(): Promise<void> {
  const servers = [
    {
      name: 'fixture',
      transport: { type: 'stdio', command: process.execPath, args: [fixtureServer] },
      pool: 4,
    },
  ];
  const bridge = await startBridgeProcess(
    { listen: { port: 0 }, metrics: { port: 0 }, drainSeconds: 5, servers },
    { env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' } },
  );
  const url = new URL(`${listeningUrl(bridge)}/fixture/mcp`);
  const clients: Client[] = [];
  for (let i = 0; i < 4; i++) clients.push(await connect(url));
  const children = childrenOf(bridge.child.pid);
  const calls = clients.flatMap((c) =>
    Array.from({ length: 5 }, () =>
      c.callTool({ name: 'fault_sleep', arguments: { ms: 1500 } }).then(
        () => true,
        () => false,
      ),
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  const t0 = performance.now();
  bridge.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const late = await post(url, initializeRequest).then(
    async (r) =>
      `${r.status} ${r.headers.get('retry-after') ? `Retry-After ${r.headers.get('retry-after')}` : ''} ${(await r.text()).slice(0, 60)}`,
    () => 'connection refused',
  );
  const done = await Promise.all(calls);
  await new Promise<void>((resolve) =>
    bridge.child.exitCode !== null ? resolve() : bridge.child.once('exit', () => resolve()),
  );
  const ms = elapsed(t0);
  rows.push({
    fault: 'SIGTERM with 20 calls in flight (drain 5 s)',
    client: `${done.filter(Boolean).length}/20 in-flight calls answered; a new session: ${late}`,
    ms,
    metrics: `stdio children alive after exit: ${children.filter(alive).length} of ${children.length}`,
  });
}

for (const scenario of [crash, hang, flood, crashLoop, sigterm]) {
  // A step that fails (a loaded machine can push even an initialize past a 1 s limit) is a row, not a crash.
  await scenario().catch((error: Error) =>
    rows.push({
      fault: scenario.name,
      client: `the run failed: ${error.message}`,
      ms: Number.NaN,
      metrics: '',
    }),
  );
}
console.log('\n| fault | what the client saw | ms to the answer (SIGTERM: to exit) | metrics / processes |');
console.log('|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.fault} | ${r.client.replaceAll('|', '/')} | ${r.ms} | ${r.metrics} |`);
