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

/** Leases of real fixture children, bound per person as in isolated mode; `starts` counts them. */
function bound(max: number, starts = { now: 0, most: 0 }, startsAtOnce?: number): ChildLeases {
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
  const initialized = supply.initialized.bind(supply);
  supply.initialized = async (...args) => {
    starts.most = Math.max(starts.most, ++starts.now);
    try {
      return await initialized(...args);
    } finally {
      starts.now -= 1;
    }
  };
  leases = new ChildLeases(supply, { max, keep: 1, bind: true, log, startsAtOnce });
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

  it('under a burst of quick calls from one person, starts one child at a time while children are freed', async () => {
    const starts = { now: 0, most: 0 };
    const l = bound(40, starts);
    l.release(await l.acquire('alice'));
    // 16 of alice's requests at once, each holding its child 10 ms, again and again for 800 ms:
    // each waits its turn, longer than the 50 ms after which a stuck queue grows.
    const until = Date.now() + 800;
    let calls = 0;
    const caller = async () => {
      while (Date.now() < until) {
        const child = await l.acquire('alice');
        await new Promise((resolve) => setTimeout(resolve, 10));
        l.release(child);
        calls += 1;
      }
    };
    await Promise.all(Array.from({ length: 16 }, caller));
    expect(calls).toBeGreaterThan(16);
    // Before, each waiting request started one: a dozen at once, each taking a CPU to start.
    expect(starts.most).toBeLessThanOrEqual(3);
  });

  it('still grows for a person whose children are all held (none is freed)', async () => {
    const l = bound(8);
    const held = [await l.acquire('alice'), await l.acquire('alice'), await l.acquire('alice')];
    expect(new Set(held).size).toBe(3);
    for (const child of held) l.release(child);
  });

  it('when every child is held, starts no more at once than it may, and each waiting request gets one', async () => {
    const starts = { now: 0, most: 0 };
    const l = bound(16, starts, 2);
    const first = await l.acquire('alice');
    // Six long calls arrive while the only child is held: nothing is freed, so each needs a child.
    const held = await Promise.all(Array.from({ length: 6 }, () => l.acquire('alice')));
    expect(new Set([first, ...held]).size).toBe(7);
    // Before, each waiting request started one at once: six starts sharing the CPUs.
    expect(starts.most).toBeLessThanOrEqual(2);
    for (const child of [first, ...held]) l.release(child);
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
