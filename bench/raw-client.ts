/**
 * The same echo call without the MCP SDK on the client's side: over HTTP, the SDK client's own
 * `tools/call` request (its headers: session, revision, credentials) replayed on one keep-alive
 * connection with Node's `http`; over stdio, a line written to the server and its answer read
 * back. What a gateway adds shows without the SDK client's work around it.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { quantile, timedRuns } from './stats.ts';

const replyTimeoutMs = 10_000;

/** A `tools/call` as the SDK client sent it. */
interface Sent {
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** A fetch for an SDK transport that keeps the last `tools/call` it sent, to be replayed. */
export function recordingFetch(): { fetch: typeof fetch; lastCall: () => Sent | undefined } {
  let last: Sent | undefined;
  const recording: typeof fetch = (input, init) => {
    const body =
      typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
    if (body?.method === 'tools/call') {
      last = { url: String(input), headers: Object.fromEntries(new Headers(init?.headers)), body };
    }
    return fetch(input, init);
  };
  return { fetch: recording, lastCall: () => last };
}

function post(agent: Agent, sent: Sent, id: string): Promise<void> {
  const body = JSON.stringify({ ...sent.body, id });
  return new Promise((resolve, reject) => {
    const headers = { ...sent.headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = request(sent.url, { method: 'POST', agent, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => {
        // An error answer would measure the wrong thing: the call must have been answered.
        if (response.statusCode === 200 && text.includes(`"id":"${id}"`) && text.includes('"result"'))
          resolve();
        else reject(new Error(`raw replay got ${response.statusCode}: ${text.slice(0, 200)}`));
      });
    });
    req.setTimeout(replyTimeoutMs, () => req.destroy(new Error('raw replay: no answer in 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** p50 in ms of `calls` calls, each with its own id, after `warmup` more. */
async function p50(call: (id: string) => Promise<void>, calls: number, warmup: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await call(`raw-warm-${i}`);
  return quantile(await timedRuns(calls, (i) => call(`raw-${i}`)), 0.5);
}

/** p50 in ms of `calls` replays of `sent` on one keep-alive connection, after `warmup` more. */
export async function rawHttpP50(sent: Sent, calls: number, warmup: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    return await p50((id) => post(agent, sent, id), calls, warmup);
  } finally {
    agent.destroy();
  }
}

/** p50 in ms of echo calls written straight to a stdio server it spawns, after `warmup` more. */
export async function rawStdioP50(
  command: string,
  args: string[],
  calls: number,
  warmup: number,
): Promise<number> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'ignore'] });
  let buffered = '';
  let waiting: { id: string; resolve: () => void; reject: (error: Error) => void } | undefined;
  child.once('exit', (code) => waiting?.reject(new Error(`the server exited (${code}) before answering`)));
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    let end = buffered.indexOf('\n');
    while (end !== -1) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      if (waiting && line.includes(`"id":"${waiting.id}"`)) waiting.resolve();
      end = buffered.indexOf('\n');
    }
  });
  const send = (message: Record<string, unknown>) => child.stdin.write(`${JSON.stringify(message)}\n`);
  const call = (id: string, method: string, params: Record<string, unknown>) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`raw stdio: no answer to ${method} in 10 s`)),
        replyTimeoutMs,
      );
      const settle = (then: () => void) => () => {
        clearTimeout(timer);
        then();
      };
      waiting = { id, resolve: settle(resolve), reject: (error) => settle(() => reject(error))() };
      send({ jsonrpc: '2.0', id, method, params });
    });
  try {
    const clientInfo = { name: 'bench-raw', version: '1.0.0' };
    await call('init', 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo });
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const echo = (id: string) =>
      call(id, 'tools/call', { name: 'echo', arguments: { message: 'yardstick' } });
    return await p50(echo, calls, warmup);
  } finally {
    child.kill();
  }
}
