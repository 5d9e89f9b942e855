import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repo } from './bridge.ts';

const exec = promisify(execFile);

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `mcpgw` as a user would (a process of its own), bounded in time. */
export async function mcpgw(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [join(repo, 'admin/cli.ts'), ...args], {
      cwd: repo,
      env: { ...process.env, ...env },
      timeout: 180_000,
    });
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const e = error as { code: number; signal?: string | null; stdout: string; stderr: string };
    // A process ended by a signal says which, where a test shows its output.
    const ended = e.signal ? `(ended by ${e.signal})\n` : '';
    return { code: e.code, out: e.stdout, err: `${e.stderr}${ended}` };
  }
}
