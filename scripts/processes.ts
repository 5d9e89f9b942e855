import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { commandLine } from '../bridge/upstream/stdio.ts';
import { listenOn } from './instance-lock.ts';

/** How the bridge is started, after `node`: by the tests and by the container's ENTRYPOINT. */
export const bridgeCommand = ['bridge/main.ts'];

/**
 * A free port for a process that cannot be told to take any (wrangler dev). It is drawn below the
 * kernel's ephemeral range: a port from listen(0) is free only until the next outgoing connection
 * may take it as its local port, which on a busy suite happens before the process binds it.
 */
export async function freePort(): Promise<number> {
  const below = ephemeralStart();
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = 10_000 + Math.floor(Math.random() * (below - 10_000));
    if ((await listenOn(port)) !== undefined) return port;
  }
  return (await listenOn(0)) ?? 0;
}

function ephemeralStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

export interface Started {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * Starts a process and resolves once `ready` matches its output; `stop` ends it by its PID.
 * `ownSession`: out of the terminal's reach (a Ctrl-C meant for us must not end it before we
 * drained what goes through it), and sent SIGTERM by the kernel if we die, so that it still
 * ends what it started (wrangler its workerd).
 * `logFile`: its stdout and stderr go to that file, not through this process, which reads the
 * file only until `ready` matches (and for `output()`): a benchmark's client must not also be the
 * reader of what the measured process logs for every call.
 */
export async function startProcess(
  command: string,
  args: string[],
  ready: RegExp,
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; ownSession?: boolean; logFile?: string } = {},
): Promise<Started> {
  const [file, argv] = options.ownSession ? commandLine(command, args, 'TERM') : [command, args];
  const { logFile } = options;
  const log = logFile === undefined ? 'pipe' : openSync(logFile, 'w');
  const child = spawn(file, argv, { env: options.env ?? process.env, stdio: ['ignore', log, log] });
  if (typeof log === 'number') closeSync(log); // the child has its own copy
  let piped = '';
  const output = logFile === undefined ? () => piped : () => lastMegabyte(logFile);
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not ready in time: ${command} ${args.join(' ')}\n${output()}`)),
      options.timeoutMs ?? 20_000,
    );
    let isReady = false;
    // Once ready, stop matching: a chatty process (wrangler dev logs every request) would
    // otherwise cost a scan of up to 1 MB per chunk, in the process measuring it.
    const check = () => {
      if (isReady || !ready.test(output())) return;
      isReady = true;
      clearTimeout(timer);
      clearInterval(poll);
      resolve();
    };
    const poll = logFile === undefined ? undefined : setInterval(check, 20);
    const onData = (chunk: Buffer) => {
      piped += chunk.toString();
      if (piped.length > 1_000_000) piped = piped.slice(-500_000);
      check();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      check(); // a log file is read every 20 ms: what it said last may not have been read yet
      clearTimeout(timer);
      clearInterval(poll);
      reject(new Error(`exited with ${code} before ready: ${output()}`));
    });
  }).catch(async (error) => {
    await stop();
    throw error;
  });
  return { child, output, stop };
}

/** The file's last megabyte: a log of a long run is far larger, and only its end says why it stopped. */
function lastMegabyte(file: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const tail = Buffer.alloc(Math.min(size, 1_000_000));
    readSync(fd, tail, 0, tail.length, size - tail.length);
    return tail.toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The URL a process announced in its `{"event":"listening","url":…}` line (the bridge, the demo servers). */
export function listeningUrl(started: Started): string {
  const line = started
    .output()
    .split('\n')
    .find((l) => l.includes('"listening"'));
  const url = line === undefined ? undefined : (JSON.parse(line) as { url?: unknown }).url;
  if (typeof url !== 'string') throw new Error(`no listening line in:\n${started.output()}`);
  return url;
}

/** The processes `pid` started and has not reaped, from /proc's children list (Linux); none once it ended. */
export function childrenOf(pid: number | undefined): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Whether a process with this PID still exists (signal 0 probes without sending). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
