import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { getEncoding } from 'js-tiktoken';
import { createLogger } from '../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../scripts/local-gateway.ts';
import { freePort } from '../scripts/processes.ts';
import { signingFetch } from '../scripts/signing-fetch.ts';
import { namespaced } from '../shared/portal/names.ts';
import { quantile } from './stats.ts';

/**
 * What the portal costs and saves, in one run (docs/performance.md):
 * - the first tools/list a client sees (what a model's context holds), in bytes and in tokens
 *   (o200k_base, js-tiktoken): each demo server's own, their sum, the portal's, and a
 *   tool-search portal's; and for a synthetic portal of 1,000 tools;
 * - the portal's added latency per call against the server's own URL, alternated in one run,
 *   through the edge (workerd, the deploy bundle) and at the bridge directly (signed).
 */
const calls = Number(process.env.CALLS ?? 400);
const tokenizer = getEncoding('o200k_base');
const repo = join(import.meta.dirname, '..');

type Tools = Awaited<ReturnType<Client['listTools']>>['tools'];

function size(tools: Tools): { bytes: number; tokens: number } {
  const text = JSON.stringify(tools);
  return { bytes: Buffer.byteLength(text), tokens: tokenizer.encode(text).length };
}

async function client(
  url: URL,
  headers: Record<string, string>,
  fetch?: typeof globalThis.fetch,
): Promise<Client> {
  const c = new Client({ name: 'bench-portal', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers }, fetch }));
  return c;
}

async function contexts(gateway: LocalGateway, headers: Record<string, string>) {
  const rows: [string, Tools][] = [];
  for (const path of ['everything', 'yardstick', 'fetch']) {
    const c = await client(new URL(`${gateway.edgeUrl}/${path}/mcp`), headers);
    rows.push([`/${path}/mcp`, (await c.listTools()).tools]);
    await c.close();
  }
  const perServer = rows.flatMap(([, tools]) => tools);
  for (const path of ['mcp', 'search/mcp']) {
    const c = await client(new URL(`${gateway.edgeUrl}/${path}`), headers);
    rows.push([`/${path}`, (await c.listTools()).tools]);
    await c.close();
  }
  console.log('\nThe first tools/list a client sees (JSON of the tools array; tokens: o200k_base)');
  console.log('| list | tools | bytes | tokens |\n|---|---|---|---|');
  for (const [label, tools] of rows.slice(0, 3)) line(label, tools);
  line('sum of the three per-server lists', perServer);
  for (const [label, tools] of rows.slice(3))
    line(`${label}${label === '/mcp' ? ' (portal)' : ' (tool search)'}`, tools);
  // 1,000 tools: everything's definitions under as many server names as it takes, as the portal merges them.
  const everything = rows[0]?.[1] ?? [];
  const synthetic: Tools = [];
  for (let n = 0; synthetic.length < 1000; n++) {
    for (const tool of everything)
      if (synthetic.length < 1000) synthetic.push({ ...tool, name: namespaced(`s${n}`, tool.name) });
  }
  line('synthetic portal of 1,000 tools, in full', synthetic);
  line('the same with tool search', rows.at(-1)?.[1] ?? []);
}

function line(label: string, tools: Tools): void {
  const { bytes, tokens } = size(tools);
  console.log(
    `| ${label} | ${tools.length} | ${bytes.toLocaleString('en')} | ${tokens.toLocaleString('en')} |`,
  );
}

/** Per-call latency of echo at the server's own URL and through the portal, alternated. */
async function latency(label: string, own: Client, portal: Client): Promise<void> {
  const samples = { own: [] as number[], portal: [] as number[] };
  for (let i = 0; i < 20; i++) await own.callTool({ name: 'echo', arguments: { message: 'warm' } });
  for (let i = 0; i < 20; i++)
    await portal.callTool({ name: 'everything__echo', arguments: { message: 'warm' } });
  for (let i = 0; i < calls; i++) {
    const [which, c, name] =
      i % 2 === 0 ? (['own', own, 'echo'] as const) : (['portal', portal, 'everything__echo'] as const);
    const started = performance.now();
    await c.callTool({ name, arguments: { message: `m${i}` } });
    samples[which].push(performance.now() - started);
  }
  const own50 = quantile(
    samples.own.sort((a, b) => a - b),
    0.5,
  );
  const portal50 = quantile(
    samples.portal.sort((a, b) => a - b),
    0.5,
  );
  const p95 = (s: number[]) => quantile(s, 0.95).toFixed(2);
  console.log(
    `| ${label} | ${own50.toFixed(2)} / ${p95(samples.own)} | ${portal50.toFixed(2)} / ${p95(samples.portal)} | ${(portal50 - own50).toFixed(2)} |`,
  );
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-portal-'));
  const documentsDir = join(dir, 'servers');
  await cp(join(repo, 'servers'), documentsDir, { recursive: true });
  const search = {
    version: 1,
    name: 'search',
    access: { groups: ['developers'] },
    portal: { members: ['everything', 'yardstick', 'fetch'], toolSearch: true },
    policy: { tools: { allow: ['*'] }, prompts: {}, resources: {} },
  };
  await writeFile(join(documentsDir, 'search.json'), JSON.stringify(search));
  const gateway = await startLocalGateway({
    edgePort: await freePort(),
    freeBridgePorts: true,
    log: createLogger('error'),
    edge: 'deployed-bundle',
    documentsDir,
  });
  try {
    const headers = { authorization: `Bearer ${gateway.apiKey}` };
    await contexts(gateway, headers);
    console.log(
      `\nPer call (echo of everything), ms p50 / p95, ${calls / 2} calls each, alternated in one run`,
    );
    console.log('| path | own URL | portal | portal − own (p50) |\n|---|---|---|---|');
    const edge = {
      own: await client(new URL(`${gateway.edgeUrl}/everything/mcp`), headers),
      portal: await client(new URL(`${gateway.edgeUrl}/mcp`), headers),
    };
    await latency('through the edge (workerd) and the bridge', edge.own, edge.portal);
    const signed = signingFetch(
      { subject: 'bench', groups: ['developers'], method: 'api_key' },
      gateway.signingSecret,
    );
    const members = '?servers=everything';
    const bridge = {
      own: await client(new URL(`${gateway.bridge.url}/everything/mcp`), {}, signed),
      portal: await client(new URL(`${gateway.bridge.url}/mcp${members}`), {}, signed),
    };
    await latency('at the bridge directly (signed)', bridge.own, bridge.portal);
    await Promise.all([edge.own, edge.portal, bridge.own, bridge.portal].map((c) => c.close()));
  } finally {
    await gateway.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
