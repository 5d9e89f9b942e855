import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** How the bridge is started, after `node`: by the tests and by the container's ENTRYPOINT. */
export const bridgeCommand = ['bridge/main.ts'];

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface Started {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts a process and resolves once `ready` matches its output; `stop` ends it by its PID. */
export async function startProcess(
  command: string,
  args: string[],
  ready: RegExp,
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Started> {
  const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not ready in time: ${command} ${args.join(' ')}\n${output}`)),
      options.timeoutMs ?? 20_000,
    );
    let isReady = false;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 1_000_000) output = output.slice(-500_000);
      // Once ready, stop matching: a chatty process (wrangler dev logs every request) would
      // otherwise cost a scan of up to 1 MB per chunk, in the process measuring it.
      if (!isReady && ready.test(output)) {
        isReady = true;
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ready: ${output}`));
    });
  }).catch(async (error) => {
    await stop();
    throw error;
  });
  return { child, output: () => output, stop };
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

/** Whether a process with this PID still exists (signal 0 probes without sending). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
