/**
 * `npm run bench:idle`: what each gateway holds with no session: the resident memory of its
 * whole process tree (from /proc), 5 s after it started, and for our bridge in isolated mode
 * also once its warm pool's quiet period has passed (`poolIdleSeconds`, 10 s here, 300 s by
 * default). Each target runs alone, in turn, in processes of its own, serving the same
 * server-everything; `--rounds N` (default 3) repeats the whole, and medians are printed.
 */

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, type Started, startProcess } from '../scripts/processes.ts';
import { startBridgeProcess } from './bridge-process.ts';
import { quantile } from './stats.ts';
import { treeRss } from './tree.ts';

const repo = join(import.meta.dirname, '..');
const node = process.execPath;
const server = [join(repo, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'];
const settleMs = 5000;
const quietSeconds = 10;
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const rounds = Math.max(1, Number(values.rounds));

interface Target {
  name: string;
  start: (port: number) => Promise<Started>;
  /** Measured again after this many seconds without a session. */
  quiet?: number;
}

function bridge(server: Record<string, unknown>): (port: number) => Promise<Started> {
  return (port) => startBridgeProcess({ listen: { port }, metrics: { port: 0 }, servers: [server] });
}

async function targets(): Promise<Target[]> {
  const stdio = { type: 'stdio', command: node, args: server };
  return [
    {
      name: 'our bridge, isolated (pool 4)',
      start: bridge({ name: 'everything', transport: stdio, pool: 4, poolIdleSeconds: quietSeconds }),
      quiet: quietSeconds,
    },
    {
      name: 'our bridge, shared',
      start: bridge({ name: 'everything', transport: stdio, sessions: 'shared' }),
    },
    {
      name: 'supergateway 4 (stateful)',
      start: (port) =>
        startProcess(
          node,
          [
            join(repo, 'node_modules/supergateway/dist/index.js'),
            ...[
              '--stdio',
              `${node} ${server.join(' ')}`,
              '--outputTransport',
              'streamableHttp',
              '--stateful',
            ],
            ...['--port', String(port), '--logLevel', 'info'],
          ],
          /Listening on port|listening/i,
        ),
    },
    {
      name: 'mcp-proxy 6',
      start: (port) =>
        startProcess(
          node,
          [
            join(repo, 'node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs'),
            ...['--port', String(port), '--host', '127.0.0.1', '--server', 'stream', '--', node, ...server],
          ],
          /listening|starting/i,
        ),
    },
  ];
}

const median = (values: number[]) =>
  quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(target: Target): Promise<{ start: number; quiet?: number }> {
  const started = await target.start(await freePort());
  try {
    const pid = started.child.pid as number;
    await sleep(settleMs);
    const start = treeRss(pid);
    if (target.quiet === undefined) return { start };
    await sleep(target.quiet * 1000 + 2000 - settleMs);
    return { start, quiet: treeRss(pid) };
  } finally {
    await started.stop();
  }
}

async function main(): Promise<void> {
  const list = await targets();
  const seen = new Map<string, { start: number[]; quiet: number[] }>();
  for (let round = 0; round < rounds; round++) {
    // Each round starts with another target, so that no one always runs first.
    for (const target of [...list.slice(round % list.length), ...list.slice(0, round % list.length)]) {
      const m = await measure(target);
      const entry = seen.get(target.name) ?? { start: [], quiet: [] };
      entry.start.push(m.start);
      if (m.quiet !== undefined) entry.quiet.push(m.quiet);
      seen.set(target.name, entry);
    }
  }
  const mib = (values: number[]) =>
    values.length === 0
      ? ''
      : `${(median(values) / 2 ** 20).toFixed(0)} (${values.map((v) => (v / 2 ** 20).toFixed(0)).join(', ')})`;
  console.log(`RSS of the whole process tree with no session, MiB, median of ${rounds} (each round):`);
  console.table(
    list.map((t) => ({
      target: t.name,
      [`${settleMs / 1000} s after start`]: mib(seen.get(t.name)?.start ?? []),
      [`after ${quietSeconds} s quiet`]: mib(seen.get(t.name)?.quiet ?? []),
    })),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
