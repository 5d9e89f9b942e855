// Runs before `npm start` and `npm test` on whatever Node is on PATH (the system's may be 20):
// installs the locked dependencies when node_modules is missing or older than package-lock.json.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const lock = readFileSync('package-lock.json');
const digest = createHash('sha256').update(lock).digest('hex');
const stamp = 'node_modules/.installed-lock-sha256';

if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== digest) {
  console.error('Installing dependencies (npm ci)…');
  const npm = process.env.npm_execpath;
  const [command, args] = npm ? [process.execPath, [npm, 'ci']] : ['npm', ['ci']];
  const install = () =>
    execFileSync(command, [...args, '--no-audit', '--no-fund', '--loglevel=error'], { stdio: 'inherit' });
  try {
    install();
  } catch {
    console.error(
      'npm ci failed; trying once more (an interrupted earlier install can leave node_modules half-written)…',
    );
    install();
  }
  writeFileSync(stamp, digest);
}
