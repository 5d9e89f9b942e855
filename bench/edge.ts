/**
 * `npm run bench:edge`: what the edge Worker costs.
 * 1. Added latency: the same SDK client calling `echo` through the Worker (local workerd under
 *    wrangler dev) and then the bridge, beside the bridge called directly (signed the same way);
 *    wrangler dev's own local proxy is measured apart and taken out.
 * 2. Filtering a tools/list of 1,000 tools with the policy, as JSON and as one SSE event.
 * Figures drift with the machine's load; compare within one run.
 */

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createLogger } from '../bridge/log.ts';
import { startLocalGateway } from '../scripts/local-gateway.ts';
import { parseDocument } from '../shared/document.ts';
import { filterListResult } from '../shared/gate.ts';
import type { Principal } from '../shared/policy.ts';
import { sseFilter } from '../shared/sse.ts';
import { freePort } from '../test/helpers/process.ts';
import { signingFetch } from '../test/helpers/signing.ts';
import { quantile } from './stats.ts';

const quick = process.argv.includes('--quick');
const calls = quick ? 200 : 1000;

async function latency(client: Client): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < calls; i++) await client.callTool({ name: 'echo', arguments: { message: 'warm' } });
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await client.callTool({ name: 'echo', arguments: { message: 'yardstick' } });
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) };
}

async function filtering(): Promise<{ json: number; sse: number }> {
  const parsed = parseDocument({
    version: 1,
    name: 'bench',
    access: { groups: ['g'] },
    policy: { tools: { allow: ['tool_*'], deny: ['tool_9*'] }, overrides: { tool_1: { name: 'renamed' } } },
  });
  if (!parsed.ok) throw new Error(parsed.problems.join());
  const principal: Principal = { subject: 'p', groups: ['g'], method: 'api_key' };
  const tools = Array.from({ length: 1000 }, (_, i) => ({
    name: `tool_${i}`,
    description: `Tool number ${i}, which does something useful with its input`,
    inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
  }));
  const message = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools } });
  const rewrite = (data: string) => {
    const m = JSON.parse(data) as { result: Record<string, unknown> };
    return JSON.stringify({
      ...m,
      result: filterListResult(parsed.document, principal, 'tools/list', m.result),
    });
  };
  const event = new TextEncoder().encode(`event: message\ndata: ${message}\n\n`);
  const rounds = quick ? 50 : 200;
  const time = async (fn: () => unknown | Promise<unknown>) => {
    for (let i = 0; i < 20; i++) await fn();
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await fn();
      samples.push(performance.now() - t0);
    }
    return quantile(
      samples.sort((a, b) => a - b),
      0.5,
    );
  };
  const json = await time(() => rewrite(message));
  const sse = await time(async () => {
    const chunks = [event.slice(0, 40_000), event.slice(40_000)];
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (const chunk of chunks) c.enqueue(chunk);
        c.close();
      },
    }).pipeThrough(sseFilter(rewrite));
    for await (const _ of stream as unknown as AsyncIterable<Uint8Array>);
  });
  return { json, sse };
}

async function roundTrips(url: string, init: RequestInit): Promise<number> {
  for (let i = 0; i < 100; i++) await (await fetch(url, init)).text();
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await (await fetch(url, init)).text();
    samples.push(performance.now() - t0);
  }
  return quantile(
    samples.sort((a, b) => a - b),
    0.5,
  );
}

async function main(): Promise<void> {
  const gateway = await startLocalGateway({
    edgePort: await freePort(),
    freeBridgePorts: true,
    log: createLogger('error'),
  });
  try {
    const viaEdge = new Client({ name: 'bench', version: '1' });
    await viaEdge.connect(
      new StreamableHTTPClientTransport(new URL(`${gateway.edgeUrl}/everything/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${gateway.apiKey}` } },
      }),
    );
    const direct = new Client({ name: 'bench', version: '1' });
    const principal: Principal = { subject: 'developer', groups: ['developers'], method: 'api_key' };
    await direct.connect(
      new StreamableHTTPClientTransport(new URL(`${gateway.bridge.url}/everything/mcp`), {
        fetch: signingFetch(principal, gateway.signingSecret),
      }),
    );
    const edge = await latency(viaEdge);
    const straight = await latency(direct);
    // wrangler dev puts a local proxy in front of workerd; /healthz does no work, so its round
    // trip minus the bridge's own /healthz is what that proxy (and workerd's entry) costs.
    const proxy =
      (await roundTrips(`${gateway.edgeUrl}/healthz`, {})) -
      (await roundTrips(`${gateway.bridge.url}/healthz`, {}));
    const filter = await filtering();
    console.table([
      {
        path: 'client → bridge (signed)',
        'p50 ms': straight.p50.toFixed(3),
        'p99 ms': straight.p99.toFixed(3),
      },
      {
        path: 'client → Worker (wrangler dev) → bridge',
        'p50 ms': edge.p50.toFixed(3),
        'p99 ms': edge.p99.toFixed(3),
      },
    ]);
    const added = edge.p50 - straight.p50;
    console.log(
      `added by the edge hop: p50 ${added.toFixed(3)} ms, p99 ${(edge.p99 - straight.p99).toFixed(3)} ms`,
    );
    console.log(`of which wrangler dev's local proxy (/healthz round trip): ${proxy.toFixed(3)} ms`);
    console.log(`the Worker's own work, p50: ${(added - proxy).toFixed(3)} ms (target <= 1 ms)`);
    console.log(
      `filter tools/list of 1,000 tools: JSON ${filter.json.toFixed(3)} ms, SSE ${filter.sse.toFixed(3)} ms (target <= 1 ms)`,
    );
    await viaEdge.close();
    await direct.close();
  } finally {
    await gateway.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
