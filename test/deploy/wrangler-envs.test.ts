import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repo } from '../helpers/bridge.ts';

const exec = promisify(execFile);

/** `wrangler deploy --dry-run`: the config of each deployed environment is valid and bundles. */
async function dryRun(environment: string): Promise<string> {
  const outdir = await mkdtemp(join(tmpdir(), `dry-${environment}-`));
  const { stdout } = await exec(
    process.execPath,
    [
      join(repo, 'node_modules/wrangler/bin/wrangler.js'),
      'deploy',
      '--dry-run',
      '--env',
      environment,
      '--outdir',
      outdir,
    ],
    {
      cwd: repo,
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: 'false',
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        NO_COLOR: '1',
      },
      timeout: 90_000,
    },
  );
  return stdout;
}

describe('the deployed environments in wrangler.toml', { timeout: 120_000 }, () => {
  it('production reaches the bridge through a Workers VPC service binding', async () => {
    const out = await dryRun('production');
    expect(out).toMatch(/env\.BRIDGE \([0-9a-f-]{36}\)\s+VPC Service/);
    expect(out).toMatch(/env\.GATEWAY_KV/);
    expect(out).toMatch(/env\.ANALYTICS \(mcp_gateway\)/);
    expect(out).toMatch(/env\.BRIDGE_URL \("http:\/\/mcp-bridge\.mcp\.svc\.cluster/);
  });

  it('public-hostname reaches it through Cloudflare Access with a service token', async () => {
    const out = await dryRun('public-hostname');
    expect(out).toMatch(/env\.ACCESS_CLIENT_ID/);
    expect(out).not.toMatch(/VPC Service/);
    expect(out).toMatch(/env\.BRIDGE_URL \("https:\/\/bridge\.example\.com"\)/);
  });
});
