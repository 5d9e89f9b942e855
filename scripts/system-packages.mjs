// Runs before `npm test` (and from .ci/run through it), on whatever Node is on PATH: the Debian
// packages the tests use, one list. A missing one is installed when running as root with apt-get
// (CI, a container); otherwise the run stops with the one command to type. `--check` never installs.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const needed = [
  { command: 'prometheus', pkg: 'prometheus', why: 'a real Prometheus scrapes the bridge' },
  { command: 'promtool', pkg: 'prometheus', why: 'checks the alert rules' },
  { command: 'chromium', pkg: 'chromium', why: 'the page at / in a headless browser' },
  { command: 'kubectl', pkg: 'kubernetes-client', why: 'renders k8s/ (kubectl kustomize)' },
  { command: 'openssl', pkg: 'openssl', why: 'a certificate for the OAuth tests' },
  { command: 'podman', pkg: 'podman', why: 'builds and runs the bridge image' },
  { command: 'runc', pkg: 'runc', why: 'the container runtime podman uses here' },
  { command: 'debootstrap', pkg: 'debootstrap', why: 'a local base image for the bridge image' },
];

function onPath(command) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const missing = needed.filter((n) => !onPath(n.command));
if (missing.length > 0) {
  const packages = [...new Set(missing.map((n) => n.pkg))];
  const install = ['apt-get', 'install', '-y', '-qq', ...packages];
  const root = process.getuid?.() === 0;
  if (process.argv.includes('--check') || !root || !onPath('apt-get')) {
    console.error('npm test needs system packages that are missing:');
    for (const n of missing) console.error(`  ${n.command} (Debian package ${n.pkg}): ${n.why}`);
    console.error(`Install them, then run npm test again:\n  sudo apt-get install -y ${packages.join(' ')}`);
    process.exit(1);
  }
  console.error(`Installing ${packages.join(', ')} (apt-get, as root)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync(install[0], install.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env });
}
