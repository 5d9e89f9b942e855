import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { type RunningBridge, startBridge } from '../../bridge/app.ts';
import { parseConfig } from '../../bridge/config.ts';
import { createLogger, type Logger } from '../../bridge/log.ts';

export const repo = join(import.meta.dirname, '../..');
export const everythingServer = join(
  repo,
  'node_modules/@modelcontextprotocol/server-everything/dist/index.js',
);
export const fixtureServer = join(repo, 'test/fixtures/server.ts');

/** The real stdio reference server from npm, started with the Node that runs the tests. */
export const everything = { type: 'stdio', command: process.execPath, args: [everythingServer, 'stdio'] };
export const fixture = { type: 'stdio', command: process.execPath, args: [fixtureServer] };
/**
 * A command that exits at once, as a server does whose download a TLS-inspecting proxy broke
 * (no SDK to load first); its error names a registry URL with a password in it.
 */
export const crashing = {
  type: 'stdio',
  command: process.execPath,
  args: [
    '-e',
    'console.error("npm error request to https://ci:hunter2@registry.example/x failed, reason: self-signed certificate in certificate chain (SELF_SIGNED_CERT_IN_CHAIN)"); process.exit(3)',
  ],
};

export interface TestBridge extends RunningBridge {
  mcpUrl(server: string): URL;
  logs: string[];
}

/** A bridge in this process on free ports, with its log captured instead of printed. */
export async function startTestBridge(
  servers: unknown[],
  extra: Record<string, unknown> = {},
): Promise<TestBridge> {
  const config = parseConfig({
    version: 1,
    instance: 'test',
    listen: { port: 0 },
    metrics: { port: 0 },
    drainSeconds: 2,
    servers,
    ...extra,
  });
  const logs: string[] = [];
  const log: Logger = createLogger('debug', {}, (line) => {
    if (logs.length < 5000) logs.push(line);
  });
  const bridge = await startBridge(config, log);
  return Object.assign(bridge, { mcpUrl: (server: string) => new URL(`${bridge.url}/${server}/mcp`), logs });
}

/** An SDK client connected to `url`; with `token`, every request carries it as a bearer token. */
export async function connect(
  url: URL,
  name = 'test-client',
  token?: string,
  fetch?: FetchLike,
): Promise<Client> {
  const client = new Client(
    { name, version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: {}, roots: {} } },
  );
  const requestInit = token === undefined ? undefined : { headers: { authorization: `Bearer ${token}` } };
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit, fetch }));
  return client;
}

export async function metricsText(bridge: RunningBridge): Promise<string> {
  return bridge.metrics.registry.metrics();
}

/** The value of one sample, e.g. sample(text, 'toolhive_mcp_tool_calls_total', { tool: 'echo' }). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      total += Number(line.split(' ').at(-1));
  }
  return total;
}

/**
 * Polls until `probe` holds. The budget only bounds a failure: on a busy machine a child's start
 * or a round trip can take many times its usual time, so it is generous.
 */
export async function until<T>(
  probe: () => T | Promise<T>,
  what: string,
  timeoutMs = 30_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function post(url: URL, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export const initializeRequest = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'curl', version: '1' } },
};

/** Runs server-everything's long-running tool and returns its result and the progress values the client saw. */
export async function longRunning(client: Client, seconds: number, steps: number) {
  const progress: number[] = [];
  const result = await client.callTool(
    { name: 'trigger-long-running-operation', arguments: { duration: seconds, steps } },
    undefined,
    { onprogress: (p) => progress.push(p.progress) },
  );
  return { result, progress };
}
