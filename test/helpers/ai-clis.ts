import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildOnce, userCache } from '../../scripts/cache.ts';
import { repo } from './bridge.ts';

const exec = promisify(execFile);
const pins = join(repo, 'test/clis');

/**
 * The AI coding CLIs people add gateways to, at the versions test/clis/package-lock.json pins,
 * installed once per lock into ~/.cache/mcp-edge-gateway/ai-clis (about 370 MB from the npm
 * registry, 25 s), so that a fresh clone reuses them. Answers the folder of their executables.
 */
export async function installAiClis(): Promise<string> {
  const digest = createHash('sha256')
    .update(readFileSync(join(pins, 'package-lock.json')))
    .digest('hex')
    .slice(0, 16);
  const dir = await buildOnce(join(userCache('ai-clis'), digest), async (into) => {
    for (const file of ['package.json', 'package-lock.json'])
      copyFileSync(join(pins, file), join(into, file));
    await exec('npm', ['ci', '--no-audit', '--no-fund'], {
      cwd: into,
      timeout: 540_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  });
  return join(dir, 'node_modules/.bin');
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
