/**
 * `npm run bench:edge`: what the edge Worker costs.
 * 1. Added latency: the same SDK client calling `echo` through the Worker and then the bridge,
 *    beside the bridge called directly (signed the same way). The Worker runs twice, in front
 *    of the same bridge: under wrangler dev, and as its deploy bundle in workerd without
 *    wrangler's proxy (scripts/edge-bundle.ts); the paths are measured in turn, three rounds.
 * 2. The relay on an answer (bench/relay.ts): 1,000-tool lists filtered (one server's, a
 *    portal's), a 1 MiB tool result metered, as JSON and as one SSE event, read from its text and
 *    (beside it) parsed and re-serialised. `--relay-only` measures this alone, without starting
 *    the gateway.
 * Figures drift with the machine's load; compare within one run.
 */

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createLogger } from '../bridge/log.ts';
import { startLocalEdge, startLocalGateway } from '../scripts/local-gateway.ts';
import { freePort } from '../scripts/processes.ts';
import { signingFetch } from '../scripts/signing-fetch.ts';
import type { Principal } from '../shared/policy/policy.ts';
import { printRelay, relayFigures } from './relay.ts';
import { quantile, timedRuns } from './stats.ts';

const quick = process.argv.includes('--quick');
const calls = quick ? 200 : 1000;
const relayRuns = quick ? 50 : 200;

async function latency(client: Client): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < calls; i++) await client.callTool({ name: 'echo', arguments: { message: 'warm' } });
  const samples = await timedRuns(calls, () =>
    client.callTool({ name: 'echo', arguments: { message: 'yardstick' } }),
  );
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) };
}

async function roundTrips(url: string, init: RequestInit): Promise<number> {
  for (let i = 0; i < 100; i++) await (await fetch(url, init)).text();
  return quantile(await timedRuns(calls, async () => (await fetch(url, init)).text()), 0.5);
}

async function sdkClient(url: string, init: { key?: string; fetch?: typeof fetch }): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1' });
  const requestInit = init.key === undefined ? {} : { headers: { authorization: `Bearer ${init.key}` } };
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit,
      ...(init.fetch ? { fetch: init.fetch } : {}),
    }),
  );
  return client;
}

function median(values: number[]): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** Each path measured `rounds` times, in turn, so that drift on a shared machine hits them alike. */
async function interleaved(paths: Record<string, Client>, rounds: number) {
  const seen: Record<string, { p50: number[]; p99: number[] }> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, client] of Object.entries(paths)) {
      const { p50, p99 } = await latency(client);
      seen[name] ??= { p50: [], p99: [] };
      seen[name].p50.push(p50);
      seen[name].p99.push(p99);
    }
  }
  return Object.fromEntries(
    Object.entries(seen).map(([name, s]) => [name, { p50: median(s.p50), p99: median(s.p99), all: s.p50 }]),
  );
}

async function main(): Promise<void> {
  // `--relay-only`: the relay's figures alone, without starting the gateway.
  if (process.argv.includes('--relay-only')) return printRelay(await relayFigures(relayRuns));
  const gateway = await startLocalGateway({
    edgePort: await freePort(),
    freeBridgePorts: true,
    log: createLogger('error'),
  });
  // The same Worker as wrangler deploy uploads it, in workerd without wrangler's proxy, in
  // front of the same bridge.
  const deployed = await startLocalEdge(
    { edgePort: await freePort(), edge: 'deployed-bundle' },
    gateway.bridge.url,
    gateway.signingSecret,
  );
  try {
    const principal: Principal = { subject: 'developer', groups: ['developers'], method: 'api_key' };
    const paths = {
      'client → bridge (signed)': await sdkClient(`${gateway.bridge.url}/everything/mcp`, {
        fetch: signingFetch(principal, gateway.signingSecret),
      }),
      'client → Worker (wrangler dev) → bridge': await sdkClient(`${gateway.edgeUrl}/everything/mcp`, {
        key: gateway.apiKey,
      }),
      'client → Worker (deploy bundle in workerd) → bridge': await sdkClient(
        `${deployed.edgeUrl}/everything/mcp`,
        { key: deployed.apiKey },
      ),
    };
    const rounds = quick ? 1 : 3;
    const measured = await interleaved(paths, rounds);
    const healthz = {
      bridge: await roundTrips(`${gateway.bridge.url}/healthz`, {}),
      dev: await roundTrips(`${gateway.edgeUrl}/healthz`, {}),
      deployed: await roundTrips(`${deployed.edgeUrl}/healthz`, {}),
    };
    const filter = await relayFigures(relayRuns);
    console.table(
      Object.entries(measured).map(([path, m]) => ({
        path,
        'p50 ms (median of rounds)': m.p50.toFixed(3),
        'p99 ms': m.p99.toFixed(3),
        'p50 each round': m.all.map((v) => v.toFixed(3)).join(' '),
      })),
    );
    const [straight, dev, bundle] = Object.values(measured).map((m) => m.p50) as [number, number, number];
    console.log(`added by the edge hop under wrangler dev, p50: ${(dev - straight).toFixed(3)} ms`);
    console.log(
      `added by the edge hop as deployed (bundle in workerd), p50: ${(bundle - straight).toFixed(3)} ms`,
    );
    console.log(`wrangler dev's share (the difference): ${(dev - bundle).toFixed(3)} ms`);
    console.log(
      `/healthz round trip, no work: bridge ${healthz.bridge.toFixed(3)} ms, Worker under wrangler dev ${healthz.dev.toFixed(3)} ms, bundle in workerd ${healthz.deployed.toFixed(3)} ms`,
    );
    console.log(
      `the Worker's own work as deployed, p50 (added minus the /healthz entry cost): ${(bundle - straight - (healthz.deployed - healthz.bridge)).toFixed(3)} ms (target <= 1 ms)`,
    );
    printRelay(filter);
    for (const client of Object.values(paths)) await client.close();
  } finally {
    await deployed.stop();
    await gateway.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
