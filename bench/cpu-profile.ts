/**
 * What bench:profile reads, for the bridge (a `node --cpu-prof` file) and the edge Worker (a
 * DevTools profile of its isolate in workerd): V8 CPU profiles summed by who spent the time,
 * and what the kernel charged a process, from /proc.
 */
import { readFileSync } from 'node:fs';
import { childrenOf } from '../scripts/processes.ts';

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

type Frame = ProfileNode['callFrame'];

function selfTimes(profile: Profile): Map<number, number> {
  const times = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    times.set(id, (times.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return times;
}

/** Self time (µs) summed by `key`, largest first. */
export function summed(profile: Profile, key: (frame: Frame) => string): [string, number][] {
  const times = selfTimes(profile);
  const sums = new Map<string, number>();
  for (const n of profile.nodes) {
    const us = times.get(n.id) ?? 0;
    if (us > 0) sums.set(key(n.callFrame), (sums.get(key(n.callFrame)) ?? 0) + us);
  }
  return [...sums].sort((a, b) => b[1] - a[1]);
}

/**
 * Two tables in Markdown, per unit of work (a call, a session): self time by owner, then by
 * function. Idle samples are left out; shares are of the busy ones. Returns the busy µs.
 */
export function printTables(profile: Profile, units: number, ownerOf: (frame: Frame) => string): number {
  const total = profile.timeDeltas.reduce((a, b) => a + b, 0);
  const byOwner = summed(profile, ownerOf);
  const busy = total - (byOwner.find(([owner]) => owner === '(idle)')?.[1] ?? 0);
  const per = (us: number) => (us / units / 1000).toFixed(3);
  console.log('| who | ms per call | share of busy |\n|---|---|---|');
  for (const [owner, us] of byOwner.filter(([o]) => o !== '(idle)').slice(0, 15)) {
    console.log(`| ${owner} | ${per(us)} | ${((100 * us) / busy).toFixed(1)} % |`);
  }
  const byFunction = summed(
    profile,
    (f) => `${f.functionName || '(anonymous)'} ${ownerOf(f)}:${f.lineNumber + 1}`,
  );
  console.log('\n| function (self time) | ms per call |\n|---|---|');
  for (const [name, us] of byFunction.filter(([n]) => !n.startsWith('(idle)')).slice(0, 20)) {
    console.log(`| ${name} | ${per(us)} |`);
  }
  return busy;
}

/** Fields of /proc/<pid>/stat after "pid (comm) ": field n of stat(5) is at n - 3. */
function statFields(pid: number | undefined): number[] {
  try {
    return (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []).map(Number);
  } catch {
    return []; // it has just ended
  }
}

/**
 * The CPU time the kernel charged, in seconds: the process itself (utime, stime), and its
 * children: those running and those it has reaped (cutime, cstime).
 */
export function cpuSeconds(pid: number | undefined): { user: number; system: number; children: number } {
  const own = statFields(pid);
  const ticks = (f: number[]) => (f[11] ?? 0) + (f[12] ?? 0);
  const reaped = (own[13] ?? 0) + (own[14] ?? 0); // cutime and cstime
  const children = childrenOf(pid).reduce((sum, child) => sum + ticks(statFields(child)), reaped);
  return { user: (own[11] ?? 0) / 100, system: (own[12] ?? 0) / 100, children: children / 100 };
}
