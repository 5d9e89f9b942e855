import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { podman } from './base-image.ts';

const usage = `node scripts/image-sbom.ts IMAGE [--out dist/sbom]

CycloneDX SBOMs of what the bridge image runs, made by npm's own \`npm sbom\` inside the image
from the installed trees: OUT/<image>.app.cdx.json (the bridge, /app) and
OUT/<image>.servers.cdx.json (the stdio MCP servers, /opt/mcp-servers). Prints both paths.`;

/**
 * `npm sbom` of one installed tree in the image, as a run of the image with a read-only root.
 * A manifest given in `manifest` replaces the tree's own for the run.
 */
async function npmSbom(image: string, workdir: string, manifest?: string): Promise<string> {
  const { stdout } = await podman([
    'run',
    '--rm',
    '--read-only',
    '--tmpfs',
    '/tmp',
    '--workdir',
    workdir,
    ...(manifest === undefined ? [] : ['--volume', `${manifest}:${workdir}/package.json:ro`]),
    ...['--env', 'npm_config_cache=/tmp/npm', '--env', 'npm_config_update_notifier=false'],
    ...['--entrypoint', 'npm', image, 'sbom', '--sbom-format', 'cyclonedx'],
  ]);
  return stdout;
}

/**
 * The image's SBOMs. /app holds `npm ci --omit=dev`; npm 11's `sbom --omit dev` still reports
 * the absent dev dependencies as missing, so it reads the tree through the image's own
 * package.json without its devDependencies.
 */
export async function imageSbom(image: string, out: string): Promise<{ app: string; servers: string }> {
  const scratch = mkdtempSync(join(tmpdir(), 'image-sbom-'));
  try {
    const { stdout } = await podman(['run', '--rm', '--entrypoint', 'cat', image, '/app/package.json']);
    const { devDependencies: _dev, ...production } = JSON.parse(stdout) as Record<string, unknown>;
    const manifest = join(scratch, 'package.json');
    writeFileSync(manifest, JSON.stringify(production), { mode: 0o644 });
    mkdirSync(out, { recursive: true });
    const base = join(out, image.replace(/[/:@]/g, '_'));
    const paths = { app: `${base}.app.cdx.json`, servers: `${base}.servers.cdx.json` };
    writeFileSync(paths.app, await npmSbom(image, '/app', manifest));
    writeFileSync(paths.servers, await npmSbom(image, '/opt/mcp-servers'));
    return paths;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { out: { type: 'string', default: 'dist/sbom' }, help: { type: 'boolean' } },
  });
  const [image] = positionals;
  if (values.help || image === undefined) {
    console.log(usage);
    process.exit(image === undefined && !values.help ? 2 : 0);
  }
  const paths = await imageSbom(image, values.out);
  console.log(`${paths.app}\n${paths.servers}`);
}
