import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alive,
  bridgeCommand,
  childrenOf,
  listeningUrl,
  type Started,
  startProcess,
} from '../../scripts/processes.ts';
import {
  connect,
  everything,
  fixtureServer,
  initializeRequest,
  post,
  repo,
  until,
} from '../helpers/bridge.ts';

let bridge: Started | undefined;
const clients: Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await bridge?.stop();
  bridge = undefined;
});

/** The bridge as its container runs it: `node bridge/main.ts --config FILE`, as a process of its own. */
async function startBridgeWith(
  servers: Record<string, unknown>[],
  options: { drainSeconds?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ url: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'bridge-'));
  const config = join(dir, 'bridge.json');
  const { drainSeconds = 30, env } = options;
  writeFileSync(
    config,
    JSON.stringify({ version: 1, listen: { port: 0 }, metrics: { port: 0 }, drainSeconds, servers }),
  );
  bridge = await startProcess(
    process.execPath,
    [...bridgeCommand.map((arg) => join(repo, arg)), '--config', config],
    /"listening"/,
    { env },
  );
  return { url: listeningUrl(bridge) };
}

function startBridgeProcess(drainSeconds: number, serverArgs: string[] = []): Promise<{ url: string }> {
  const transport = { type: 'stdio', command: process.execPath, args: [fixtureServer, ...serverArgs] };
  return startBridgeWith([{ name: 'fixture', transport }], { drainSeconds });
}

async function exited(started: Started): Promise<number | null> {
  const child = started.child;
  if (child.exitCode !== null) return child.exitCode;
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('the bridge process', () => {
  it('on SIGTERM finishes in-flight calls, takes no new session, and exits leaving no child', {
    timeout: 120_000,
  }, async () => {
    const drainSeconds = 60;
    const { url } = await startBridgeProcess(drainSeconds);
    const client = await connect(new URL('/fixture/mcp', url));
    clients.push(client);
    const started = bridge as Started;
    const pid = started.child.pid ?? 0;
    const children = await until(
      () => (childrenOf(pid).length >= 3 ? childrenOf(pid) : undefined),
      'pool + session',
    );
    let sleeping: () => void = () => undefined;
    const asleep = new Promise<void>((resolve) => {
      sleeping = resolve;
    });
    // SIGTERM once the call is running on the child (its first progress), not on a guess.
    const call = client.callTool({ name: 'fault_sleep', arguments: { ms: 5000 } }, undefined, {
      onprogress: () => sleeping(),
    });
    await asleep;
    const t0 = Date.now();
    started.child.kill('SIGTERM');
    await until(() => started.output().includes('draining'), 'draining');
    const refused = await post(new URL('/fixture/mcp', url), initializeRequest);
    expect(refused.status).toBe(503);
    expect((await call).content).toEqual([{ type: 'text', text: 'slept 5000' }]);
    expect(await exited(started)).toBe(0);
    // It left when the call was done, not when the drain bound ran out.
    expect(Date.now() - t0).toBeLessThan(drainSeconds * 1000);
    await until(() => children.every((c) => !alive(c)), 'children gone');
  });

  it('passes the proxy and CA settings on to a stdio child, and none of its other variables', async () => {
    const { url } = await startBridgeWith([{ name: 'everything', transport: everything, pool: 0 }], {
      env: {
        ...process.env,
        HTTPS_PROXY: 'http://proxy.test:3128',
        no_proxy: 'localhost,.cluster.local',
        NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt',
        UPSTREAM_API_TOKEN: 'secret-that-stays-in-the-bridge',
      },
    });
    const client = await connect(new URL('/everything/mcp', url));
    clients.push(client);
    const result = await client.callTool({ name: 'get-env', arguments: {} });
    const seen = JSON.parse((result.content as { text: string }[])[0]?.text ?? '{}') as Record<
      string,
      string
    >;
    expect(seen).toMatchObject({
      HTTPS_PROXY: 'http://proxy.test:3128',
      no_proxy: 'localhost,.cluster.local',
      NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt',
    });
    expect(seen.UPSTREAM_API_TOKEN).toBeUndefined();
    expect(Object.values(seen)).not.toContain('secret-that-stays-in-the-bridge');
  });

  it.skipIf(!existsSync('/usr/bin/chrt'))(
    'runs its children as the command itself, under SCHED_BATCH (woken, they do not preempt it)',
    async () => {
      await startBridgeProcess(1);
      const pid = (bridge as Started).child.pid ?? 0;
      const command = (child: number) => readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0');
      // Started once setpriv, setsid and chrt have each exec'd into the next, the last into Node.
      const children = await until(() => {
        const now = childrenOf(pid);
        return now.length >= 2 && now.every((c) => command(c)[0] === process.execPath) ? now : undefined;
      }, 'warm pool, started');
      for (const child of children) {
        // Fields of stat after "pid (comm) ": policy is field 41 of proc(5); SCHED_BATCH is 3.
        const fields = readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
        expect(fields[38]).toBe('3');
        expect(command(child)).toContain(fixtureServer);
      }
    },
  );

  it('when killed with SIGKILL takes its children with it (no orphans)', async () => {
    await startBridgeProcess(1, ['--linger']);
    const started = bridge as Started;
    const pid = started.child.pid ?? 0;
    const children = await until(
      () => (childrenOf(pid).length >= 2 ? childrenOf(pid) : undefined),
      'warm pool',
    );
    started.child.kill('SIGKILL');
    await exited(started);
    await until(() => children.every((c) => !alive(c)), 'children killed with the bridge');
  });
});
