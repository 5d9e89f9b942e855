/**
 * `npm run test:load`: the whole suite (`npm test`) on a busy machine, as on a shared CI runner
 * or a laptop doing other work. Busy worker threads keep every core saturated beside it, each
 * bounded in time, and end with the run. `-- --runs 2` runs the suite twice in a row;
 * `--burners N` sets how many threads burn (default: two per core); other arguments go to vitest.
 */
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const maxBurnMinutes = 60;

const { values, positionals } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    burners: { type: 'string', default: String(2 * availableParallelism()) },
  },
  allowPositionals: true,
  strict: false,
});
const runs = Number(values.runs);
const burners = Number(values.burners);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(burners) || burners < 0) {
  console.error('usage: npm run test:load -- [--runs N] [--burners N] [vitest arguments]');
  process.exit(2);
}

function burn(): Worker {
  const code = `const end = Date.now() + ${maxBurnMinutes * 60_000}; let x = 0; while (Date.now() < end) x = (x + 1) % 1e9;`;
  return new Worker(code, { eval: true });
}

function suite(): Promise<number> {
  const child = spawn('npm', ['test', '--', ...positionals.map(String)], { stdio: 'inherit' });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

const minutes = (ms: number) => `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;

const results: string[] = [];
let failed = false;
for (let run = 1; run <= runs && !failed; run += 1) {
  const workers = Array.from({ length: burners }, burn);
  const loads: number[] = [];
  const sampler = setInterval(() => loads.push(loadavg()[0] ?? 0), 15_000);
  const started = Date.now();
  const code = await suite();
  clearInterval(sampler);
  await Promise.all(workers.map((w) => w.terminate()));
  failed = code !== 0;
  const mean = loads.reduce((a, b) => a + b, 0) / Math.max(1, loads.length);
  const peak = Math.max(0, ...loads);
  results.push(
    `run ${run}: ${failed ? 'FAILED' : 'passed'} in ${minutes(Date.now() - started)} beside ${burners} busy threads (load average mean ${mean.toFixed(1)}, peak ${peak.toFixed(1)} on ${availableParallelism()} cores)`,
  );
}
console.log(`\n${results.join('\n')}`);
process.exit(failed ? 1 : 0);
