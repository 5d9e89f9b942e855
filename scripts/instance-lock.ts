import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/**
 * One `npm start` per local state folder. Taken before anything is written there, so a second
 * run (a taken port, the same folder) changes nothing a running gateway depends on.
 */
export interface InstanceLock {
  release(): void;
}

interface Holder {
  pid: number;
  edgeUrl: string;
  since: string;
}

export class InstanceError extends Error {}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holderOf(file: string): Holder | undefined {
  try {
    const holder = JSON.parse(readFileSync(file, 'utf8')) as Holder;
    return Number.isInteger(holder.pid) && running(holder.pid) ? holder : undefined;
  } catch {
    return undefined; // gone, or half-written by a run that died: not held
  }
}

export function lockState(state: string, edgeUrl: string): InstanceLock {
  mkdirSync(state, { recursive: true });
  const file = join(state, 'npm-start.lock');
  const me: Holder = { pid: process.pid, edgeUrl, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      return { release: () => rmSync(file, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = holderOf(file);
    if (holder !== undefined) {
      throw new InstanceError(
        `Another npm start (pid ${holder.pid}, ${holder.edgeUrl}, since ${holder.since}) uses ${state}; ` +
          'nothing was changed. Use that one, stop it with Ctrl-C, or give this one its own: --state DIR',
      );
    }
    rmSync(file, { force: true }); // left by a run that ended without cleaning up
  }
  throw new InstanceError(`Could not lock ${state}: another npm start is starting there`);
}

/** Listens on 127.0.0.1:`port` for a moment: the port it got (any free one for 0), or undefined if taken. */
export function listenOn(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(undefined));
    probe.listen(port, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : undefined));
    });
  });
}
