/** The q-quantile (0..1) of samples sorted ascending; NaN when there are none. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** `runs` runs of `run`, one after another, each timed in ms; sorted ascending for `quantile`. */
export async function timedRuns(runs: number, run: (i: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await run(i);
    samples.push(performance.now() - t0);
  }
  return samples.sort((a, b) => a - b);
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** The median of one figure over the rounds, and its spread (lowest to highest). */
export function spread(values: number[], digits = 2): string {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return 'n/a';
  const middle = sorted.length / 2;
  const median =
    sorted.length % 2 === 1
      ? (sorted[Math.floor(middle)] ?? Number.NaN)
      : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  const low = sorted[0] ?? Number.NaN;
  const high = sorted.at(-1) ?? Number.NaN;
  return sorted.length === 1
    ? fmt(median, digits)
    : `${fmt(median, digits)} (${fmt(low, digits)}–${fmt(high, digits)})`;
}
