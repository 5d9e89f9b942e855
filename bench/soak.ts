/**
 * `npm run soak:long -- --minutes 30 [--sessions 32]`: the whole path (edge Worker under
 * wrangler dev → bridge → server-everything), as npm start runs it, under steady load for a
 * fixed time. Each minute: calls/s, lost and misrouted calls (every answer must echo its own
 * request), and resident memory: the bridge's process and the whole tree. Bounded by time;
 * exit code 1 if anything was lost or misrouted.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { treeRss } from './tree.ts';
import { startWholePath } from './whole-path.ts';

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '5' }, sessions: { type: 'string', default: '32' } },
});
const minutes = Number(values.minutes);
const sessions = Number(values.sessions);
if (
  !(minutes > 0 && minutes <= 24 * 60) ||
  !(Number.isInteger(sessions) && sessions >= 1 && sessions <= 256)
) {
  console.error('usage: npm run soak:long -- --minutes 1..1440 --sessions 1..256');
  process.exit(2);
}

const everything = [
  join(import.meta.dirname, '../node_modules/@modelcontextprotocol/server-everything/dist/index.js'),
  'stdio',
];

function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;

async function main(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'soak-'));
  const whole = await startWholePath(dir, { command: process.execPath, args: everything }, 4);
  const pid = whole.process.child.pid as number;
  const totals = { calls: 0, lost: 0, misrouted: 0 };
  let minute = { calls: 0, lost: 0, misrouted: 0 };
  const deadline = Date.now() + minutes * 60_000;
  try {
    const clients = await Promise.all(
      Array.from({ length: sessions }, async () => {
        const client = new Client({ name: 'soak', version: '1' });
        await client.connect(
          new StreamableHTTPClientTransport(whole.url, { requestInit: { headers: whole.headers } }),
        );
        return client;
      }),
    );
    console.log(`start: ${sessions} sessions; bridge ${mib(rss(pid))}, tree ${mib(treeRss(pid))}`);
    // Growth is measured from the first minute's end: the first minute is warm-up (JIT, buffers).
    let warm: number | undefined;
    const report = setInterval(() => {
      warm ??= rss(pid);
      const line = `${new Date().toISOString().slice(11, 19)}  ${Math.round(minute.calls / 60)} calls/s  lost ${minute.lost}  misrouted ${minute.misrouted}  bridge ${mib(rss(pid))}  tree ${mib(treeRss(pid))}`;
      console.log(line);
      minute = { calls: 0, lost: 0, misrouted: 0 };
    }, 60_000);
    await Promise.all(
      clients.map(async (client, s) => {
        for (let i = 0; Date.now() < deadline; i++) {
          const tag = `${s}-${i}`;
          const text = await client.callTool({ name: 'echo', arguments: { message: tag } }).then(
            (r) => (r.content as { text: string }[])[0]?.text ?? '',
            () => undefined,
          );
          for (const count of [totals, minute]) {
            count.calls += 1;
            if (text === undefined) count.lost += 1;
            else if (text !== `Echo: ${tag}`) count.misrouted += 1;
          }
        }
      }),
    );
    clearInterval(report);
    for (const client of clients) await client.close();
    const end = { bridge: rss(pid), tree: treeRss(pid) };
    const growth =
      warm === undefined
        ? 'n/a (under a minute)'
        : `${((end.bridge / warm - 1) * 100).toFixed(1)} % since minute 1`;
    console.log(
      `end: ${totals.calls} calls in ${minutes} min (${Math.round(totals.calls / (minutes * 60))}/s), lost ${totals.lost}, misrouted ${totals.misrouted}; bridge ${mib(end.bridge)} (${growth}), tree ${mib(end.tree)}`,
    );
  } finally {
    await whole.process.stop();
  }
  return totals.lost + totals.misrouted === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
