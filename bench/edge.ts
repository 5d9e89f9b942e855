/**
 * `npm run bench:edge`: what the edge Worker costs.
 * 1. Added latency: the same SDK client calling `echo` through the Worker and then the bridge,
 *    beside the bridge called directly (signed the same way). The Worker runs twice, in front
 *    of the same bridge: under wrangler dev, and as its deploy bundle in workerd without
 *    wrangler's proxy (scripts/edge-bundle.ts); the paths are measured in turn, three rounds.
 * 2. The relay on an answer: a tools/list of 1,000 tools filtered, a 1 MiB tool result metered,
 *    as JSON and as one SSE event, read from its text and (beside it) parsed and re-serialised.
 *    `--relay-only` measures this alone, without starting the gateway.
 * Figures drift with the machine's load; compare within one run.
 */

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createLogger } from '../bridge/log.ts';
import { startLocalEdge, startLocalGateway } from '../scripts/local-gateway.ts';
import { freePort } from '../scripts/processes.ts';
import { signingFetch } from '../scripts/signing-fetch.ts';
import { parseDocument } from '../shared/policy/document.ts';
import { filterListResult, rewritesAnswer } from '../shared/policy/gate.ts';
import { filterListText } from '../shared/policy/list-text.ts';
import type { Principal } from '../shared/policy/policy.ts';
import { isFailure, peekMessage } from '../shared/protocol/jsonrpc.ts';
import type { Rewritten } from '../shared/protocol/received.ts';
import { sseFilter } from '../shared/protocol/sse.ts';
import { jsonBody } from '../workers/mcp/json-stream.ts';
import { quantile, timedRuns } from './stats.ts';

const quick = process.argv.includes('--quick');
const calls = quick ? 200 : 1000;

async function latency(client: Client): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < calls; i++) await client.callTool({ name: 'echo', arguments: { message: 'warm' } });
  const samples = await timedRuns(calls, () =>
    client.callTool({ name: 'echo', arguments: { message: 'yardstick' } }),
  );
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) };
}

/** The relay's p50 on an answer: seen before (a list's reading remembered), seen for the first time, parsed. */
interface RelayRow {
  text: number;
  firstSight?: number;
  parsed: number;
}

/**
 * What the relay does with an answer on its way back, in this process (V8, as in workerd): a
 * 1,000-tool list filtered, and a 1 MiB tool result metered, each as JSON and as one SSE event
 * in 64 KB chunks. The list also as the edge first sees it: one whose reading it has not kept.
 * Beside it, the same through the same framing with the whole message parsed and re-serialised,
 * as the relay did before it read answers from their text.
 */
async function filtering(): Promise<Record<string, RelayRow>> {
  const parsed = parseDocument({
    version: 1,
    name: 'bench',
    access: { groups: ['g'] },
    policy: { tools: { allow: ['tool_*'], deny: ['tool_9*'] }, overrides: { tool_1: { name: 'renamed' } } },
  });
  if (!parsed.ok) throw new Error(parsed.problems.join());
  const doc = parsed.document;
  const principal: Principal = { subject: 'p', groups: ['g'], method: 'api_key' };
  const tools = Array.from({ length: 1000 }, (_, i) => ({
    name: `tool_${i}`,
    description: `Tool number ${i}, which does something useful with its input`,
    inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
  }));
  const line = 'A line of a file the tool read, with "quotes", a tab\t and a backslash \\ in it.\n';
  const text = line.repeat(Math.ceil((1 << 20) / line.length));
  const messages = {
    'tools/list, 1,000 tools': JSON.stringify({ result: { tools }, jsonrpc: '2.0', id: 1 }),
    'tools/call, 1 MiB result': JSON.stringify({
      result: { content: [{ type: 'text', text }] },
      jsonrpc: '2.0',
      id: 1,
    }),
  };
  const method = (name: string) => (name.startsWith('tools/list') ? 'tools/list' : 'tools/call');
  const byText = (m: string) => (data: string) => {
    const peek = peekMessage(data);
    if (peek?.kind !== 'response' || !rewritesAnswer(m)) return undefined;
    return filterListText(doc, principal, m, data)?.spliced;
  };
  const byParsing = (m: string) => (data: string) => {
    const message = JSON.parse(data) as { result: Record<string, unknown> };
    if (!rewritesAnswer(m)) {
      isFailure(message as never);
      return undefined;
    }
    return JSON.stringify({ ...message, result: filterListResult(doc, principal, m, message.result) });
  };
  const through = async (bytes: Uint8Array, filter: TransformStream<Uint8Array, Uint8Array>) => {
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let at = 0; at < bytes.length; at += 65_536) c.enqueue(bytes.subarray(at, at + 65_536));
        c.close();
      },
    }).pipeThrough(filter);
    for await (const _ of stream as unknown as AsyncIterable<Uint8Array>);
  };
  const runs = quick ? 50 : 200;
  const time = async (fn: (i: number) => Promise<unknown>) => quantile(await timedRuns(runs, fn), 0.5);
  // Lists the edge has not read before: the first tool's description differs in each.
  const unseen = Array.from({ length: runs + 20 }, (_, k) =>
    JSON.stringify({
      result: { tools: tools.map((t, i) => (i === 0 ? { ...t, description: `variant ${k}` } : t)) },
      jsonrpc: '2.0',
      id: 1,
    }),
  );
  const rows: Record<string, RelayRow> = {};
  for (const [name, message] of Object.entries(messages)) {
    const m = method(name);
    const framings = {
      JSON: [(text: string) => text, (f: (d: string) => Rewritten) => jsonBody(f)],
      SSE: [
        (text: string) => `event: message\ndata: ${text}\n\n`,
        (f: (d: string) => Rewritten) => sseFilter(f),
      ],
    } as const;
    for (const [framing, [frame, filter]] of Object.entries(framings)) {
      const bytes = new TextEncoder().encode(frame(message));
      for (let i = 0; i < 20; i++) {
        await through(bytes, filter(byText(m)));
        await through(bytes, filter(byParsing(m)));
      }
      const fresh =
        m === 'tools/list' ? unseen.map((text) => new TextEncoder().encode(frame(text))) : undefined;
      for (let i = 0; i < 20; i++) if (fresh) await through(fresh[runs + i] as Uint8Array, filter(byText(m)));
      rows[`${name}, ${framing}`] = {
        text: await time(() => through(bytes, filter(byText(m)))),
        ...(fresh
          ? { firstSight: await time((i) => through(fresh[i] as Uint8Array, filter(byText(m)))) }
          : {}),
        parsed: await time(() => through(bytes, filter(byParsing(m)))),
      };
    }
  }
  return rows;
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

function printRelay(filter: Record<string, RelayRow>): void {
  console.log('the relay on an answer, p50 ms (target for the list: <= 1 ms):');
  console.table(
    Object.entries(filter).map(([answer, t]) => ({
      answer,
      'read from its text': t.text.toFixed(3),
      'a list not seen before': t.firstSight?.toFixed(3) ?? '–',
      'parsed and re-serialised': t.parsed.toFixed(3),
      ratio: (t.text / t.parsed).toFixed(2),
    })),
  );
}

async function main(): Promise<void> {
  // `--relay-only`: the relay's figures alone, without starting the gateway.
  if (process.argv.includes('--relay-only')) return printRelay(await filtering());
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
    const filter = await filtering();
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
