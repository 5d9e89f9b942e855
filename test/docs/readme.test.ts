import { execFile } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { WranglerKv } from '../../admin/wrangler-kv.ts';
import { repo } from '../helpers/bridge.ts';

const exec = promisify(execFile);
const readme = readFileSync(join(repo, 'README.md'), 'utf8');

/** Every command in the README's sh blocks, comments dropped, `a && b` split. */
const commands = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
  .flatMap((block) => (block[1] ?? '').split('\n'))
  .map((line) => line.replace(/\s+#.*$/, '').trim())
  .filter(Boolean)
  .flatMap((line) => line.split(' && ').map((c) => c.trim()));

/** Where each README command is run: a test file that runs it, .ci/run, or this file. */
const runBy: [RegExp, string, RegExp][] = [
  [/^npm start$/, 'test/e2e/npm-start.test.ts', /spawn\(\s*'npm',\s*\['start'/],
  [/^npm test$/, '.ci/run', /^npm test$/m],
  [
    /^npm start -- --port 8801 --bridge-port 0 --metrics-port 0$/,
    'test/e2e/npm-start.test.ts',
    /npmStart\(dir, readme\.start/,
  ],
  [/^npx mcpgw validate --local$/, 'test/e2e/npm-start.test.ts', /shell\(readme\.change/],
  [/^npx mcpgw diff --local$/, 'test/admin/cli.test.ts', /mcpgw\(\['diff', \.\.\.local\]\)/],
  [
    /^npx mcpgw apply --local --yes$/,
    'test/e2e/lab-story.test.ts',
    /mcpgw\(\[\s*'apply',\s*'--yes',\s*'--local'/,
  ],
  [/^npx wrangler kv key put /, 'test/docs/readme.test.ts', /wrangler kv key put, as written/],
  [/^kubectl kustomize k8s\/overlays\/prod$/, 'test/docs/readme.test.ts', /kubectl kustomize and wrangler/],
  [
    /^npx wrangler deploy --dry-run --env production$/,
    'test/docs/readme.test.ts',
    /wrangler deploy --dry-run, as written/,
  ],
];

describe('the README’s commands', { timeout: 120_000 }, () => {
  it('are each run by a test or by CI', () => {
    expect(commands.length).toBeGreaterThanOrEqual(7);
    for (const command of commands) {
      const entry = runBy.find(([pattern]) => pattern.test(command));
      expect(entry, `no test runs: ${command}`).toBeDefined();
      const [, file, marker] = entry as [RegExp, string, RegExp];
      expect(readFileSync(join(repo, file), 'utf8'), `${file} should run: ${command}`).toMatch(marker);
    }
  });

  it('npm test names the system packages it misses, and the one command that installs them', async () => {
    const bare = await mkdtemp(join(tmpdir(), 'bare-path-'));
    symlinkSync(process.execPath, join(bare, 'node'));
    const script = join(repo, 'scripts/system-packages.mjs');
    const run = await exec(join(bare, 'node'), [script, '--check'], { env: { PATH: bare } }).catch((e) => e);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('sudo apt-get install -y prometheus chromium kubernetes-client openssl');
    expect(await exec(process.execPath, [script, '--check'])).toMatchObject({ stderr: '' });
    expect(readFileSync(join(repo, 'package.json'), 'utf8')).toContain('node scripts/system-packages.mjs');
  });

  it('wrangler kv key put, as written, stores the document where the Worker reads it', async () => {
    const command = commands.find((c) => c.startsWith('npx wrangler kv key put')) ?? '';
    const state = await mkdtemp(join(tmpdir(), 'readme-kv-'));
    const args = command
      .split(' ')
      .slice(2)
      .map((arg) => (arg === '.wrangler/state' ? state : arg)); // not the repo's own state
    await exec(process.execPath, [join(repo, 'node_modules/wrangler/bin/wrangler.js'), ...args], {
      cwd: repo,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
      timeout: 60_000,
    });
    const stored = await new WranglerKv({ kind: 'local', persistTo: state }).get('server:everything');
    expect(JSON.parse(stored ?? '{}').name).toBe('everything');
  });

  it('kubectl kustomize and wrangler deploy --dry-run, as written, succeed', async () => {
    const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' };
    const kustomize = commands.find((c) => c.startsWith('kubectl kustomize')) ?? '';
    const [kubectl, ...kubectlArgs] = kustomize.split(' ');
    const rendered = await exec(kubectl as string, kubectlArgs, {
      cwd: repo,
      timeout: 30_000,
      maxBuffer: 16 << 20,
    });
    expect(rendered.stdout).toContain('kind: StatefulSet');
    const deploy = commands.find((c) => c.startsWith('npx wrangler deploy')) ?? '';
    const outdir = await mkdtemp(join(tmpdir(), 'readme-deploy-'));
    const { stdout } = await exec(
      process.execPath,
      [
        join(repo, 'node_modules/wrangler/bin/wrangler.js'),
        ...deploy.split(' ').slice(2),
        '--outdir',
        outdir,
      ],
      { cwd: repo, env, timeout: 90_000 },
    );
    expect(stdout).toContain('--dry-run: exiting now.');
  });
});
