import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bridgeCommand, type Started, startProcess } from '../scripts/processes.ts';

const repo = join(import.meta.dirname, '..');

/**
 * A bridge in a process of its own, as the image runs it, for a benchmark to measure from
 * outside: `config` (without `version`) written to a fresh directory, removed when it stops;
 * ready once it listens.
 * `nodeArgs` go to Node before the bridge (a profiler's); the log says warnings only, unless
 * `env` sets `LOG_LEVEL`; `logFile`: where it goes (startProcess).
 */
export async function startBridgeProcess(
  config: Record<string, unknown>,
  options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[]; logFile?: string } = {},
): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-bridge-'));
  const removed = () => rm(dir, { recursive: true, force: true });
  const file = join(dir, 'bridge.json');
  writeFileSync(file, JSON.stringify({ version: 1, ...config }));
  const started = await startProcess(
    process.execPath,
    [...(options.nodeArgs ?? []), ...bridgeCommand.map((part) => join(repo, part)), '--config', file],
    /"listening"/,
    { env: { ...process.env, LOG_LEVEL: 'warn', ...options.env }, logFile: options.logFile },
  ).catch(async (error: Error) => {
    await removed();
    throw error;
  });
  return { ...started, stop: () => started.stop().then(removed) };
}
