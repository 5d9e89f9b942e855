import { readFileSync } from 'node:fs';

/** The machine's CPU time so far in ticks, and the part a hypervisor gave other guests (steal). */
export function cpuTicks(): { total: number; steal: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    // user nice system idle iowait irq softirq steal; guest time is already counted in user.
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    return { total: ticks.reduce((a, b) => a + b, 0), steal: ticks[7] ?? Number.NaN };
  } catch {
    return { total: Number.NaN, steal: Number.NaN };
  }
}

/** The share of the machine's CPU time the hypervisor took between two readings: a contended host. */
export function stealShare(from: ReturnType<typeof cpuTicks>, to: ReturnType<typeof cpuTicks>): number {
  return (to.steal - from.steal) / (to.total - from.total);
}
