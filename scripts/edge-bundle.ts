import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';
import { buildOnce } from './cache.ts';

const usage = `node scripts/edge-bundle.ts [--port 8787] [--persist-to DIR] [--var NAME:VALUE]… [--env-file FILE] [--inspector-port PORT]

The edge Worker as \`wrangler deploy\` uploads it: the bundle \`wrangler deploy --dry-run
--outdir\` writes, run in workerd with wrangler.toml's top-level bindings (KV kept in
--persist-to's folder, as \`wrangler dev --persist-to\` keeps it). workerd is driven by the
Miniflare that wrangler itself uses, without wrangler dev's proxy, bundler or file watcher.
With --inspector-port, workerd serves the DevTools protocol there (the Worker is at
/core:user:mcp-edge-gateway), as \`wrangler dev --inspector-port\` does.
Prints "Ready on <url>" once it serves; SIGINT or SIGTERM stops it.`;

const repo = join(import.meta.dirname, '..');
const wrangler = join(repo, 'node_modules/wrangler/wrangler-dist/cli.js');
const exec = promisify(execFile);

/** wrangler's own Miniflare, so that both ways of running the Worker use one workerd. */
async function wranglersMiniflare(): Promise<typeof import('miniflare')> {
  const resolve = createRequire(join(repo, 'node_modules/wrangler/package.json')).resolve;
  return import(pathToFileURL(resolve('miniflare')).href);
}

/** What the bundle is made of: the Worker's and shared sources, its config and the lock. */
function sourceDigest(): string {
  const hash = createHash('sha256');
  const files = ['wrangler.toml', 'package-lock.json'];
  for (const dir of ['workers', 'shared']) {
    for (const name of readdirSync(join(repo, dir), { recursive: true, encoding: 'utf8' }).sort()) {
      if (name.endsWith('.ts') || name.endsWith('.json')) files.push(join(dir, name));
    }
  }
  for (const file of files)
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(join(repo, file)))
      .update('\0');
  return hash.digest('hex').slice(0, 16);
}

/**
 * The upload: one ES module, written by `wrangler deploy --dry-run`. Kept per source digest in
 * node_modules/.cache, so the test files that start the Worker this way build it once.
 */
async function build(): Promise<{ dir: string; script: string }> {
  const dir = await buildOnce(
    join(repo, 'node_modules/.cache/edge-bundle', sourceDigest()),
    async (outdir) => {
      await exec(process.execPath, [wrangler, 'deploy', '--dry-run', '--outdir', outdir, '--env', ''], {
        cwd: repo,
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' },
        maxBuffer: 16 * 1024 * 1024,
      });
    },
  );
  return { dir, script: join(dir, 'index.js') };
}

/** `NAME=value` lines, as `wrangler dev --env-file` reads them. */
async function envFile(path: string | undefined): Promise<Record<string, string>> {
  if (path === undefined) return {};
  const lines = (await readFile(path, 'utf8')).split('\n').filter((line) => line.includes('='));
  return Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

function vars(pairs: string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => [pair.slice(0, pair.indexOf(':')), pair.slice(pair.indexOf(':') + 1)]),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8787' },
      'persist-to': { type: 'string' },
      var: { type: 'string', multiple: true, default: [] },
      'env-file': { type: 'string' },
      'inspector-port': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const inspectorPort = values['inspector-port'] === undefined ? undefined : Number(values['inspector-port']);
  if (
    values.help ||
    (inspectorPort !== undefined && !(Number.isInteger(inspectorPort) && inspectorPort > 0))
  ) {
    console.log(usage);
    if (!values.help) process.exitCode = 1;
    return;
  }
  const { dir: outdir, script } = await build();
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(repo, 'wrangler.toml'), '');
  // The bundle is one module: the rules for finding more do not apply (nor convert).
  const { modulesRules: _rules, ...bindingsAndFlags } = workerOptions;
  const { Miniflare, convertV4MiniflareOptions } = await wranglersMiniflare();
  const persistTo = values['persist-to'];
  // wrangler hands out options in Miniflare's earlier (v4) shape; Miniflare converts them.
  const options = convertV4MiniflareOptions({
    host: '127.0.0.1',
    port: Number(values.port),
    // The Worker's console, one line each, as wrangler dev prints it (tests follow the audit lines).
    handleStructuredLogs: ({ level, message }: { level: string; message: string }) => {
      (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${message}\n`);
    },
    ...(persistTo === undefined ? {} : { resourcePersistencePath: join(persistTo, 'v3') }),
    ...(inspectorPort === undefined ? {} : { inspectorPort }),
    workers: [
      {
        ...bindingsAndFlags,
        name: 'mcp-edge-gateway',
        rootPath: outdir, // module names are paths under it
        modules: true,
        scriptPath: script,
        bindings: {
          ...(workerOptions.bindings as Record<string, unknown>),
          ...vars(values.var),
          ...(await envFile(values['env-file'])),
        },
      },
    ],
  } as Parameters<typeof convertV4MiniflareOptions>[0]);
  const miniflare = new Miniflare(options);
  const url = await miniflare.ready;
  console.log(`Ready on ${url.href}`);
  const stop = async () => {
    await miniflare.dispose();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

await main();
