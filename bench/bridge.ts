/**
 * `npm run bench`: the same stdio MCP server (server-everything) and the same SDK client,
 * reached (1) directly over stdio, (2) through our bridge (2025-11-25 sessions, isolated and
 * shared, and 2026-07-28 stateless requests with the SDK 2.x client), (3) through the whole
 * path, edge Worker (wrangler dev) then bridge, (4) through supergateway (stateful Streamable
 * HTTP), (5) through mcp-proxy, (6) from a floor of canned answers (bench/floor-server.ts)
 * and (7) from a floor that relays one child's lines and does nothing else
 * (bench/relay-floor.ts), measured in one run. Latency is also taken without the SDK client (bench/raw-client.ts), and
 * each target's row says how much CPU time the host stole meanwhile (bench/steal.ts).
 * Figures drift with the machine's load: every target is measured `--rounds` times (3),
 * interleaved, and each figure is the median with its spread; ratios are taken within a round.
 * Every gateway logs at its default level (ours `info`: an audit line per `tools/call`;
 * supergateway's `info`: each message, both ways) into a file of its own in the run's temporary
 * directory: this process, whose clients are timed, does not read what they log.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { freePort, type Started, startProcess } from '../scripts/processes.ts';
import { measureBinding } from './binding.ts';
import { startBridgeProcess } from './bridge-process.ts';
import { rawHttpP50, rawStdioP50, recordingFetch } from './raw-client.ts';
import { quantile, spread, timedRuns } from './stats.ts';
import { cpuTicks, stealShare } from './steal.ts';
import { callRate, warm } from './throughput.ts';
import { treeRss } from './tree.ts';
import { startWholePath } from './whole-path.ts';

const repo = join(import.meta.dirname, '..');
const node = process.execPath;
const server = [join(repo, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'];
const quick = process.argv.includes('--quick');
const latencyCalls = quick ? 100 : 500;
const throughputSeconds = quick ? 1 : 3;
const setupSamples = quick ? 4 : 10;
/** Calls a session makes unmeasured before it is timed: the JIT of every process on its path is warm. */
const warmupCalls = quick ? 300 : 1000;
/** A slow target's warm-up stops here, with fewer calls (the table shows how many). */
const warmupCapSeconds = quick ? 5 : 20;
const roundsArg = process.argv.indexOf('--rounds');
/** Every target is measured this many times, interleaved: figures are medians, with their spread. */
const rounds = roundsArg === -1 ? 3 : Math.max(1, Number(process.argv[roundsArg + 1]) || 3);

/** What the measurements need of a client: the SDK 1.x one (2025-11-25) or the 2.x one (2026-07-28). */
interface BenchClient {
  callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
  listTools(): Promise<unknown>;
  close(): Promise<void>;
  readonly transport?: unknown;
}

interface Target {
  name: string;
  url?: string;
  /** The gateway's own process (undefined: direct, the client spawns the server itself). */
  process?: Started;

  connect(): Promise<BenchClient>;
  /** p50 of the same echo call made without the SDK client (bench/raw-client.ts). */
  raw(): Promise<number>;
}

/** A target's SDK clients' fetch, and its raw p50: their last `tools/call`, replayed without the SDK. */
function replayed(): { fetch: typeof fetch; raw: () => Promise<number> } {
  const recorder = recordingFetch();
  const raw = async () => {
    const sent = recorder.lastCall();
    return sent ? rawHttpP50(sent, latencyCalls, warmupCalls) : Number.NaN;
  };
  return { fetch: recorder.fetch, raw };
}

async function client(transport: StdioClientTransport | StreamableHTTPClientTransport): Promise<Client> {
  const c = new Client({ name: 'bench', version: '1.0.0' });
  await c.connect(transport);
  return c;
}

/** Every process the run started, stopped at its end: also when a later target failed to start. */
const running: Started[] = [];

async function httpTarget(
  name: string,
  start: (port: number) => Promise<Started>,
  path: string,
): Promise<Target> {
  const port = await freePort();
  const started = await start(port);
  running.push(started);
  const url = `http://127.0.0.1:${port}${path}`;
  const { fetch, raw } = replayed();
  return {
    name,
    url,
    process: started,
    connect: () => client(new StreamableHTTPClientTransport(new URL(url), { fetch })),
    raw,
  };
}

/** Every target, with its files (configs, logs, the whole path's state) in `dir`. */
async function targets(dir: string): Promise<Target[]> {
  const direct: Target = {
    name: 'direct stdio',
    connect: () => client(new StdioClientTransport({ command: node, args: server, stderr: 'ignore' })),
    raw: () => rawStdioP50(node, server, latencyCalls, warmupCalls),
  };
  const bridge = await httpTarget(
    'our bridge',
    (port) =>
      startBridgeProcess(
        {
          listen: { port },
          metrics: { port: 0 },
          servers: [
            { name: 'everything', transport: { type: 'stdio', command: node, args: server }, pool: 4 },
            { name: 'shared', transport: { type: 'stdio', command: node, args: server }, sessions: 'shared' },
          ],
        },
        { env: { LOG_LEVEL: 'info' }, logFile: join(dir, 'bridge.log') },
      ),
    '/everything/mcp',
  );
  const supergateway = await httpTarget(
    'supergateway',
    (port) =>
      startProcess(
        node,
        [
          join(repo, 'node_modules/supergateway/dist/index.js'),
          ...['--stdio', `${node} ${server.join(' ')}`, '--outputTransport', 'streamableHttp', '--stateful'],
          ...['--port', String(port), '--logLevel', 'info'],
        ],
        /Listening on port|listening/i,
        { logFile: join(dir, 'supergateway.log') },
      ),
    '/mcp',
  );
  const mcpProxy = await httpTarget(
    'mcp-proxy',
    (port) =>
      startProcess(
        node,
        [
          join(repo, 'node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs'),
          ...['--port', String(port), '--host', '127.0.0.1', '--server', 'stream', '--', node, ...server],
        ],
        /listening|starting/i,
        { logFile: join(dir, 'mcp-proxy.log') },
      ),
    '/mcp',
  );
  const floor = await httpTarget(
    floorName,
    (port) =>
      startProcess(node, [join(repo, 'bench/floor-server.ts'), String(port)], /listening/, {
        logFile: join(dir, 'floor.log'),
      }),
    '/mcp',
  );
  const relay = await httpTarget(
    relayName,
    (port) =>
      startProcess(node, [join(repo, 'bench/relay-floor.ts'), String(port), node, ...server], /listening/, {
        logFile: join(dir, 'relay.log'),
      }),
    '/mcp',
  );
  const whole = await wholePath(dir);
  const sharedUrl = new URL((bridge.url ?? '').replace('/everything/', '/shared/'));
  const sharedReplay = replayed();
  const shared: Target = {
    name: 'our bridge, shared',
    process: bridge.process,
    connect: () => client(new StreamableHTTPClientTransport(sharedUrl, { fetch: sharedReplay.fetch })),
    raw: sharedReplay.raw,
  };
  const statelessReplay = replayed();
  const stateless: Target = {
    name: 'our bridge, 2026-07-28',
    process: bridge.process,
    connect: async () => {
      const pinned = { versionNegotiation: { mode: { pin: '2026-07-28' } } } as const;
      const c = new ModernClient({ name: 'bench', version: '1.0.0' }, pinned);
      await c.connect(new ModernTransport(new URL(bridge.url ?? ''), { fetch: statelessReplay.fetch }));
      return c;
    },
    raw: statelessReplay.raw,
  };
  return [direct, bridge, shared, stateless, whole, supergateway, mcpProxy, floor, relay];
}

/** The whole path with the same server and pool as "our bridge" (bench/whole-path.ts). */
async function wholePath(dir: string): Promise<Target> {
  const whole = await startWholePath(dir, { command: node, args: server }, 4);
  running.push(whole.process);
  const { fetch, raw } = replayed();
  return {
    name: 'whole path: Worker → bridge',
    url: whole.url.href,
    process: whole.process,
    connect: () =>
      client(
        new StreamableHTTPClientTransport(whole.url, { requestInit: { headers: whole.headers }, fetch }),
      ),
    raw,
  };
}

/** Canned answers over HTTP (bench/floor-server.ts): the least any HTTP target can take. */
const floorName = 'floor: canned answers over HTTP';
/** One child's lines relayed over HTTP (bench/relay-floor.ts): the least any gateway with a child can take. */
const relayName = 'floor: a child relayed over HTTP';

const echo = (c: BenchClient, message: string) => c.callTool({ name: 'echo', arguments: { message } });

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function latency(
  c: BenchClient,
  calls: number,
  message: string,
): Promise<{ p50: number; p99: number }> {
  // Warm the JIT of every process on the path: a gateway runs for days, its warm speed is what counts.
  const warmup = Math.min(warmupCalls, calls * 2);
  for (let i = 0; i < warmup; i++) await echo(c, message);
  const samples = await timedRuns(calls, () => echo(c, message));
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Ends a session the way a well-behaved client does: DELETE for HTTP, then close. */
async function end(c: BenchClient): Promise<void> {
  const transport = c.transport;
  if (transport instanceof StreamableHTTPClientTransport)
    await transport.terminateSession().catch(() => undefined);
  await c.close();
}

async function measure(target: Target) {
  await settle(2000); // let the target finish starting (warm pools, first child) before timing it
  const ticks = cpuTicks();
  const first = await target.connect();
  const lat = await latency(first, latencyCalls, 'yardstick');
  const rawP50 = await target.raw();
  // A peer that cannot carry 1 MiB at all shows n/a.
  const big = await latency(first, quick ? 5 : 20, 'x'.repeat(1024 * 1024)).catch(() => ({
    p50: Number.NaN,
  }));
  const root = target.process?.child.pid ?? process.pid;
  const rss1 = treeRss(root);
  const rates: Record<number, number> = {};
  const warmedCalls: Record<number, number> = {};
  const sessions: BenchClient[] = [first];
  for (const n of [1, 8, 32]) {
    while (sessions.length < n) sessions.push(await target.connect());
    await settle(1000);
    // Warmed like the first session, by count: with a process per session, the new ones start
    // cold, and 32 children take each a thirty-second of what one shared child gets.
    if (n > 1) warmedCalls[n] = await warm(sessions.slice(0, n), warmupCalls, warmupCapSeconds);
    rates[n] = await callRate(sessions.slice(0, n), throughputSeconds);
  }
  const rssPerSession = (treeRss(root) - rss1) / 31;
  await Promise.all(sessions.map(end));
  const setups: number[] = [];
  const listed: number[] = [];
  for (let i = 0; i < setupSamples; i++) {
    await settle(500); // a session arriving every half second
    let c: BenchClient | undefined;
    const opened = await timed(async () => (c = await target.connect()));
    setups.push(opened);
    if (!c) continue;
    // The measure of set-up: initialize, then the tools/list every AI client sends next.
    listed.push(opened + (await timed(() => (c as BenchClient).listTools())));
    await end(c);
  }
  setups.sort((a, b) => a - b);
  listed.sort((a, b) => a - b);
  return {
    steal: stealShare(ticks, cpuTicks()),
    p50: lat.p50,
    p99: lat.p99,
    rawP50,
    bigP50: big.p50,
    rates,
    warmedCalls,
    setup: quantile(setups, 0.5),
    setupListed: quantile(listed, 0.5),
    rssPerSession,
  };
}

type Measured = Awaited<ReturnType<typeof measure>>;

/** Each target once per round; each round starts with another target, so none is always first. */
async function measureAll(all: Target[]): Promise<Record<string, Measured[]>> {
  const runs: Record<string, Measured[]> = {};
  for (let round = 0; round < rounds; round++) {
    const order = [...all.slice(round % all.length), ...all.slice(0, round % all.length)];
    for (const target of order) {
      console.error(`round ${round + 1}/${rounds}: measuring ${target.name}…`);
      const measured = await measure(target);
      runs[target.name] = [...(runs[target.name] ?? []), measured];
    }
  }
  return runs;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-'));
  let runs: Record<string, Measured[]>;
  try {
    runs = await measureAll(await targets(dir));
  } finally {
    await Promise.all(running.map((p) => p.stop()));
    // The logs alone are hundreds of MB by the end (an audit line per call).
    await rm(dir, { recursive: true, force: true });
  }
  const direct = runs['direct stdio'] ?? [];
  const added = (r: Measured, round: number) => r.p50 - (direct[round]?.p50 ?? Number.NaN);
  const rawAdded = (r: Measured, round: number) => r.rawP50 - (direct[round]?.rawP50 ?? Number.NaN);
  const rows = Object.entries(runs).map(([name, r]) => {
    const column = (pick: (m: Measured, round: number) => number, digits: number) =>
      spread(r.map(pick), digits);
    const baseline = name === 'direct stdio';
    return {
      target: name,
      'p50 ms': column((m) => m.p50, 3),
      'p99 ms': column((m) => m.p99, 3),
      'added p50 ms': baseline ? '-' : column(added, 3),
      'raw p50 ms': column((m) => m.rawP50, 3),
      'raw added ms': baseline ? '-' : column(rawAdded, 3),
      '1 MiB p50 ms': column((m) => m.bigP50, 1),
      'calls/s @1': column((m) => m.rates[1] ?? 0, 0),
      'calls/s @8': column((m) => m.rates[8] ?? 0, 0),
      'calls/s @32': column((m) => m.rates[32] ?? 0, 0),
      // The fewest calls a session made before the window at 32: under the count, the cap cut it.
      'warm-up calls @32': column((m) => m.warmedCalls[32] ?? 0, 0),
      'setup p50 ms': column((m) => m.setup, 1),
      'setup+list p50 ms': column((m) => m.setupListed, 1),
      'RSS/session MiB': column((m) => m.rssPerSession / 2 ** 20, 1),
      // CPU time the hypervisor gave other guests while this target was measured: a contended host.
      'steal %': column((m) => m.steal * 100, 1),
    };
  });
  console.log(`${rounds} round(s), interleaved; each figure: median (lowest–highest)`);
  console.table(rows);
  const peers = ['supergateway', 'mcp-proxy'].map((n) => runs[n] ?? []).filter((r) => r.length > 0);
  if (direct.length === 0 || peers.length === 0) return;
  // Ratios are taken within each round (the machine's drift cancels), then summarised.
  const perRound = (ours: Measured[], ratio: (o: Measured, peers: Measured[], round: number) => number) =>
    ours.map((o, round) =>
      ratio(
        o,
        peers.flatMap((p) => p[round] ?? []),
        round,
      ),
    );
  const ratios = (measured: Measured[]) => ({
    latency: perRound(measured, (o, p, i) => added(o, i) / Math.min(...p.map((m) => added(m, i)))),
    raw: perRound(measured, (o, p, i) => rawAdded(o, i) / Math.min(...p.map((m) => rawAdded(m, i)))),
    rate: perRound(measured, (o, p) => (o.rates[32] ?? 0) / Math.max(...p.map((m) => m.rates[32] ?? 0))),
    setup: perRound(measured, (o, p) => o.setup / Math.min(...p.map((m) => m.setup))),
    listed: perRound(measured, (o, p) => o.setupListed / Math.min(...p.map((m) => m.setupListed))),
  });
  const ours = ['our bridge', 'our bridge, shared', 'our bridge, 2026-07-28', 'whole path: Worker → bridge'];
  for (const name of ours) {
    const measured = runs[name];
    if (!measured) continue;
    const { latency, raw, rate, setup, listed } = ratios(measured);
    console.log(`\n${name}, against the best peer (median, lowest–highest of ${rounds}):`);
    console.log(`  added p50 latency ratio:      ${spread(latency)}  (target <= 0.5)`);
    console.log(`  the same, raw client:         ${spread(raw)}  (target <= 0.5)`);
    console.log(`  calls/s at 32 sessions ratio: ${spread(rate)}  (target >= 2)`);
    console.log(`  session setup p50 ratio:      ${spread(setup)}  (target <= 0.2)`);
    console.log(`  the same, with tools/list:    ${spread(listed)}  (target <= 0.2)`);
  }
  const floors = [
    // No MCP server, no checks: what it scores is out of reach for any gateway with this client.
    { name: floorName, reach: 'the least any gateway can reach' },
    // A child and nothing else: what it scores leaves the rest of a goal for a gateway's own work.
    { name: relayName, reach: 'the least any gateway with a child can reach' },
  ];
  for (const { name, reach } of floors) {
    const floor = runs[name];
    if (!floor) continue;
    const { latency, raw, rate, setup, listed } = ratios(floor);
    console.log(`\n${name}, against the best peer: ${reach}:`);
    console.log(`  added p50 latency ratio:      ${spread(latency)}`);
    console.log(`  the same, raw client:         ${spread(raw)}`);
    console.log(`  calls/s at 32 sessions ratio: ${spread(rate)}`);
    console.log(`  session setup p50 ratio:      ${spread(setup)}`);
    console.log(`  the same, with tools/list:    ${spread(listed)}`);
  }
  console.log(
    '\n2026-07-28: 32 clients of one person, then of 32 people (isolated binds children per person)',
  );
  console.table(await measureBinding(server, throughputSeconds));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
