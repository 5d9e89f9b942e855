import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repo } from './bridge.ts';

const exec = promisify(execFile);
const folder = join(repo, 'test/clis');
const stamp = join(folder, 'node_modules/.installed-lock-sha256');

function lockDigest(): string {
  return createHash('sha256')
    .update(readFileSync(join(folder, 'package-lock.json')))
    .digest('hex');
}

function installed(): boolean {
  try {
    return readFileSync(stamp, 'utf8') === lockDigest();
  } catch {
    return false;
  }
}

/**
 * The AI coding CLIs people add gateways to, at the versions test/clis/package-lock.json pins,
 * installed into test/clis/node_modules the first time (about 370 MB from the npm registry,
 * 25 s) and reused while the lock is unchanged. Answers the folder of their executables.
 */
export async function installAiClis(): Promise<string> {
  if (!installed()) {
    rmSync(join(folder, 'node_modules'), { recursive: true, force: true }); // what a broken install left
    await exec('npm', ['ci', '--no-audit', '--no-fund'], {
      cwd: folder,
      timeout: 540_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    writeFileSync(stamp, lockDigest());
  }
  return join(folder, 'node_modules/.bin');
}

/**
 * A throwaway person: an empty HOME and a project folder in it, with every CLI's update checks,
 * telemetry and error reports off, so that nothing they run leaves 127.0.0.1 (checked with
 * strace for `mcp add` and `mcp list`).
 */
export function throwawayUser(bin: string): { cwd: string; env: NodeJS.ProcessEnv } {
  const home = mkdtempSync(join(tmpdir(), 'ai-cli-home-'));
  mkdirSync(join(home, '.gemini'));
  writeFileSync(
    join(home, '.gemini/settings.json'),
    JSON.stringify({
      privacy: { usageStatisticsEnabled: false },
      general: { disableAutoUpdate: true, disableUpdateNag: true },
      telemetry: { enabled: false },
    }),
  );
  const cwd = join(home, 'project');
  mkdirSync(cwd);
  const env = {
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    HOME: home,
    GEMINI_CLI_TRUST_WORKSPACE: 'true',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  };
  return { cwd, env };
}
