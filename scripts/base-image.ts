import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildOnce, userCache } from './cache.ts';

const usage = `node scripts/base-image.ts

Makes a local stand-in for the Containerfile's NODE_IMAGE where registries of images are out of
reach: a Debian bookworm minbase root filesystem (debootstrap, from Debian's own mirror), the
Node binary of the locked \`node\` npm package, and npm, imported into podman as one image.
Cached: the root filesystem under ~/.cache/mcp-edge-gateway, the image in podman's store;
a second run takes seconds. Needs root, debootstrap and podman. A CA bundle this machine
trusts through NODE_EXTRA_CA_CERTS (a TLS-inspecting proxy's) goes into the image too, so
that npm inside the build reaches the registry as npm outside it does. Prints the image's name:

  podman build --build-arg NODE_IMAGE=$(node scripts/base-image.ts) -f Containerfile .`;

const repo = join(import.meta.dirname, '..');
const exec = promisify(execFile);
const suite = 'bookworm';
/** npm for the image: the Containerfile's stages run `npm ci` and `npm install`. */
const npmVersion = '11.6.2';

/**
 * Podman as this kind of machine runs it: runc with cgroupfs, and no default rlimits (raising
 * them is refused in a nested sandbox). Given to podman through CONTAINERS_CONF.
 */
export function podmanEnv(): NodeJS.ProcessEnv {
  const dir = userCache('base-image');
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'containers.conf');
  writeFileSync(
    conf,
    '[containers]\ndefault_ulimits = []\n\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n',
  );
  return { ...process.env, CONTAINERS_CONF: conf };
}

/** One podman command as configured here; rejects with its stderr when it fails. */
export function podman(args: string[], timeout = 120_000): Promise<{ stdout: string; stderr: string }> {
  return exec('podman', args, { env: podmanEnv(), timeout, maxBuffer: 64 * 1024 * 1024 });
}

/** The extra CA bundle Node trusts here, if any, and a short digest of it for the image's tag. */
function hostTrust(): { file: string; digest: string } | undefined {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (file === undefined || !existsSync(file)) return undefined;
  const digest = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 8);
  return { file, digest };
}

/** The Node binary npm start and the tests run on: the `node` package's platform package. */
function lockedNode(): { binary: string; version: string } {
  const dir = join(repo, `node_modules/node/node_modules/node-linux-${process.arch}`);
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  return { binary: join(dir, 'bin/node'), version };
}

/** This machine's Debian mirror (it may be a local one), else Debian's own. */
function mirror(): string {
  try {
    const sources = readFileSync('/etc/apt/sources.list.d/debian.sources', 'utf8');
    const uri = /^URIs:\s*(\S+\/debian)\s*$/m.exec(sources)?.[1];
    if (uri !== undefined) return uri;
  } catch {
    // no deb822 sources on this machine
  }
  return 'http://deb.debian.org/debian';
}

/** Runs a command with its output shown as progress on stderr; rejects with its exit code. */
function run(command: string, args: string[], input?: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    // stdout is this script's answer: their output goes to stderr
    const child = spawn(command, args, { stdio: [input ? 'pipe' : 'ignore', 2, 2], env: podmanEnv() });
    if (input && child.stdin) input.pipe(child.stdin);
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args[0]} exited with ${code}`)),
    );
  });
}

async function imageExists(name: string): Promise<boolean> {
  try {
    await podman(['image', 'exists', name]);
    return true;
  } catch {
    return false;
  }
}

function rootFilesystem(dir: string): Promise<string> {
  return buildOnce(join(dir, `rootfs-${suite}`), async (rootfs) => {
    console.error(`debootstrap --variant=minbase ${suite} (about a minute)…`);
    await run('debootstrap', ['--variant=minbase', suite, rootfs, mirror()]);
    // What a slim image leaves out: apt's lists and caches are not needed to run.
    for (const cached of ['var/lib/apt/lists', 'var/cache/apt/archives']) {
      rmSync(join(rootfs, cached), { recursive: true, force: true });
      mkdirSync(join(rootfs, cached), { recursive: true });
    }
  });
}

async function addNode(rootfs: string, dir: string, node: { binary: string }): Promise<void> {
  copyFileSync(node.binary, join(rootfs, 'usr/local/bin/node'));
  const tarball = join(dir, `npm-${npmVersion}.tgz`);
  if (!existsSync(tarball)) {
    const { stdout } = await exec('npm', ['pack', `npm@${npmVersion}`, '--pack-destination', dir, '--json']);
    const packed = (JSON.parse(stdout) as { filename: string }[])[0]?.filename ?? '';
    if (join(dir, packed) !== tarball) throw new Error(`npm pack wrote ${packed}, not ${tarball}`);
  }
  const npm = join(rootfs, 'usr/local/lib/node_modules/npm');
  rmSync(npm, { recursive: true, force: true });
  mkdirSync(npm, { recursive: true });
  await exec('tar', ['-xzf', tarball, '-C', npm, '--strip-components=1']);
  for (const command of ['npm', 'npx']) {
    const link = join(rootfs, 'usr/local/bin', command);
    rmSync(link, { force: true });
    symlinkSync(`../lib/node_modules/npm/bin/${command}-cli.js`, link);
  }
}

/** The image's name, building it first when podman does not have it. */
export async function baseImage(): Promise<string> {
  const node = lockedNode();
  const trust = hostTrust();
  const trusted = trust === undefined ? '' : `-ca${trust.digest}`;
  const name = `localhost/mcp-bridge-node-base:${node.version}-${suite}-npm${npmVersion}${trusted}`;
  if (await imageExists(name)) return name;
  if (process.getuid?.() !== 0) throw new Error('debootstrap needs root: run this as root (or in CI)');
  const dir = userCache('base-image');
  mkdirSync(dir, { recursive: true });
  const rootfs = await rootFilesystem(dir);
  await addNode(rootfs, dir, node);
  const changes = ['ENV PATH=/usr/local/bin:/usr/bin:/bin', 'CMD ["node"]'];
  const extraCa = join(rootfs, 'etc/ssl/certs/node-extra-ca.pem');
  rmSync(extraCa, { force: true });
  if (trust !== undefined) {
    mkdirSync(join(rootfs, 'etc/ssl/certs'), { recursive: true });
    copyFileSync(trust.file, extraCa);
    changes.push('ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/node-extra-ca.pem');
  }
  const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await run(
    'podman',
    ['import', ...changes.flatMap((change) => ['--change', change]), '-', name],
    tar.stdout,
  );
  return name;
}

if (import.meta.main) {
  if (process.argv.includes('--help')) {
    console.log(usage);
  } else {
    console.log(await baseImage());
  }
}
