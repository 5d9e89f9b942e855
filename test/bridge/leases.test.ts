import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../bridge/config.ts';
import { createLogger } from '../../bridge/log.ts';
import { createMetrics } from '../../bridge/metrics/metrics.ts';
import { upstreamFactory } from '../../bridge/upstream/connect.ts';
import { ChildLeases } from '../../bridge/upstream/leases.ts';
import { Supply } from '../../bridge/upstream/supply.ts';
import { fixture } from '../helpers/bridge.ts';

let leases: ChildLeases | undefined;
afterEach(async () => {
  await leases?.close();
  leases = undefined;
});

/** Leases of real fixture children, bound per person as in isolated mode. */
function bound(max: number): ChildLeases {
  const config = parseConfig({ version: 1, servers: [{ name: 'fixture', transport: fixture }] });
  const server = config.servers[0];
  if (!server) throw new Error('no server');
  const log = createLogger('error');
  const metrics = createMetrics();
  const supply = new Supply(upstreamFactory(server, log, metrics), {
    spares: 0,
    server: server.name,
    metrics,
    log,
  });
  leases = new ChildLeases(supply, { max, keep: 1, bind: true, log });
  return leases;
}

describe('2026-07-28 child leases, bound per person', () => {
  it('never hands a child that served alice to bob; bob gets one of his own', async () => {
    const l = bound(4);
    const first = await l.acquire('alice');
    l.release(first);
    const bobs = await l.acquire('bob');
    expect(bobs).not.toBe(first);
    const again = await l.acquire('alice');
    expect(again).toBe(first);
    l.release(again);
    l.release(bobs);
  });

  it('at the child limit, a child freed while only someone else waits makes room for theirs', async () => {
    const l = bound(1);
    const alices = await l.acquire('alice');
    const bobs = l.acquire('bob');
    setTimeout(() => l.release(alices), 100);
    // Bob's request is served by a new child, long before the 10 s lease wait would refuse it.
    const child = await bobs;
    expect(child).not.toBe(alices);
    expect(child.owner).toBe('bob');
  });
});
