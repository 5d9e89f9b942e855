/**
 * What binding 2026-07-28 children to one person costs: 32 concurrent SDK 2.x clients of one
 * person, then of 32 people, on an isolated server (children bound per person) and on a shared
 * one (children serve anyone), through one bridge that checks edge signatures as in production.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Principal } from '../shared/policy.ts';
import { freePort, startProcess } from '../test/helpers/process.ts';
import { signingFetch } from '../test/helpers/signing.ts';
import { treeRss } from './tree.ts';

const repo = join(import.meta.dirname, '..');
const clients = 32;
const modes = ['isolated', 'shared'] as const;
const crowds = [1, clients];

const person = (n: number): Principal => ({ subject: `person-${n}`, groups: [], method: 'api_key' });

async function modernClient(url: URL, principal: Principal, secret: string): Promise<Client> {
  const pinned = { versionNegotiation: { mode: { pin: '2026-07-28' } } } as const;
  const c = new Client({ name: 'bench', version: '1.0.0' }, pinned);
  await c.connect(new StreamableHTTPClientTransport(url, { fetch: signingFetch(principal, secret) }));
  return c;
}

/** Calls per second of the clients in parallel for `seconds`, after a first round, timed apart (children start). */
async function run(all: Client[], seconds: number): Promise<{ rate: number; firstMs: number }> {
  const t0 = performance.now();
  await Promise.all(all.map((c, i) => c.callTool({ name: 'echo', arguments: { message: `first ${i}` } })));
  const firstMs = performance.now() - t0;
  const deadline = performance.now() + seconds * 1000;
  let calls = 0;
  await Promise.all(
    all.map(async (c, i) => {
      while (performance.now() < deadline) {
        await c.callTool({ name: 'echo', arguments: { message: `b${i}` } });
        calls += 1;
      }
    }),
  );
  return { rate: calls / seconds, firstMs };
}

export async function measureBinding(
  dir: string,
  server: string[],
  seconds: number,
): Promise<Record<string, string>[]> {
  const secret = randomBytes(32).toString('hex');
  const port = await freePort();
  const config = join(dir, 'binding.json');
  const transport = { type: 'stdio', command: process.execPath, args: server };
  writeFileSync(
    config,
    JSON.stringify({
      version: 1,
      listen: { port },
      metrics: { port: 0 },
      edge: { signatures: 'required' },
      // One server per measurement, so that each starts from its own warm spares.
      servers: modes.flatMap((sessions) =>
        crowds.map((people) => ({ name: `${sessions}-${people}`, transport, sessions, pool: 4 })),
      ),
    }),
  );
  const bridge = await startProcess(
    process.execPath,
    [join(repo, 'bridge/main.ts'), '--config', config],
    /"listening"/,
    {
      env: { ...process.env, LOG_LEVEL: 'warn', BRIDGE_SIGNING_SECRET: secret },
    },
  );
  const rows: Record<string, string>[] = [];
  try {
    for (const mode of modes) {
      for (const people of crowds) {
        const url = new URL(`http://127.0.0.1:${port}/${mode}-${people}/mcp`);
        const before = treeRss(bridge.child.pid ?? 0);
        const all = await Promise.all(
          Array.from({ length: clients }, (_, i) => modernClient(url, person(i % people), secret)),
        );
        const { rate, firstMs } = await run(all, seconds);
        const grown = treeRss(bridge.child.pid ?? 0) - before;
        await Promise.all(all.map((c) => c.close()));
        rows.push({
          server: mode,
          people: String(people),
          'first 32 calls ms': firstMs.toFixed(0),
          'calls/s @32': rate.toFixed(0),
          'RSS grown MiB': (grown / 2 ** 20).toFixed(0),
        });
      }
    }
  } finally {
    await bridge.stop();
  }
  return rows;
}
