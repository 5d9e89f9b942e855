import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type Started, startProcess } from '../../scripts/processes.ts';
import {
  connect,
  everythingServer,
  longRunning,
  metricsText,
  sample,
  startTestBridge,
  type TestBridge,
} from '../helpers/bridge.ts';
import { modernClient } from '../helpers/modern.ts';

/** server-everything in its own HTTP modes, proxied by the bridge with the SDK's client transports. */
describe.each([
  { type: 'streamable-http', mode: 'streamableHttp', path: '/mcp', ready: /listening on port/ },
  { type: 'sse', mode: 'sse', path: '/sse', ready: /running on port/ },
] as const)('a $type upstream behind the bridge', ({ type, mode, path, ready }) => {
  let upstream: Started;
  let bridge: TestBridge;
  const clients: Client[] = [];

  beforeAll(async () => {
    const port = await freePort();
    upstream = await startProcess(process.execPath, [everythingServer, mode], ready, {
      env: { ...process.env, PORT: String(port) },
    });
    bridge = await startTestBridge([
      { name: 'remote', transport: { type, url: `http://127.0.0.1:${port}${path}` } },
      {
        name: 'remote-shared',
        transport: { type, url: `http://127.0.0.1:${port}${path}` },
        sessions: 'shared',
      },
    ]);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await bridge?.drain();
    await upstream?.stop();
  });

  it.each(['remote', 'remote-shared'])('serves %s with the same Streamable HTTP interface', async (name) => {
    const client = await connect(bridge.mcpUrl(name));
    clients.push(client);
    expect(client.getServerVersion()?.name).toBe('mcp-servers/everything');
    const results = await Promise.all(
      ['a', 'b', 'c'].map((m) => client.callTool({ name: 'echo', arguments: { message: `${name}-${m}` } })),
    );
    expect(results.map((r) => (r.content as { text: string }[])[0]?.text)).toEqual(
      ['a', 'b', 'c'].map((m) => `Echo: ${name}-${m}`),
    );
  });

  it('relays progress from the upstream', async () => {
    const client = await connect(bridge.mcpUrl('remote'));
    clients.push(client);
    const { progress } = await longRunning(client, 0.2, 2);
    expect(progress).toEqual([1, 2]);
  });

  it('labels metrics with the upstream transport, and tools by name once the server listed them', async () => {
    const client = await connect(bridge.mcpUrl('remote'));
    clients.push(client);
    const before = await metricsText(bridge);
    expect(sample(before, 'toolhive_mcp_tool_calls_total', { server: 'remote', tool: 'other' })).toBe(4);
    await client.listTools();
    await client.callTool({ name: 'echo', arguments: { message: 'named' } });
    const text = await metricsText(bridge);
    expect(sample(text, 'toolhive_mcp_tool_calls_total', { server: 'remote', tool: 'echo' })).toBe(1);
    expect(sample(text, 'toolhive_mcp_requests_total', { transport: type, mcp_method: 'tools/call' })).toBe(
      8,
    );
  });
});

/** An HTTP server that takes the handshake, then refuses each tool call at the HTTP level. */
async function refusingServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(async (req, res) => {
    if (req.method !== 'POST') return void res.writeHead(405).end();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (body.method === 'tools/call') return void res.writeHead(503).end('upstream down for maintenance');
    const mcp = new McpServer({ name: 'refusing', version: '1.0.0' });
    mcp.registerTool('echo', { description: 'never reached' }, async () => ({ content: [] }));
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('an HTTP upstream that refuses a request', () => {
  it('answers a 2026-07-28 client with the refusal at once, not a silence until the timeout', {
    timeout: 100_000,
  }, async () => {
    const upstream = await refusingServer();
    const bridge = await startTestBridge([
      { name: 'refusing', transport: { type: 'streamable-http', url: upstream.url } },
    ]);
    const client = await modernClient(bridge.mcpUrl('refusing'));
    try {
      const started = Date.now();
      const error = await client.callTool({ name: 'echo', arguments: {} }).then(
        (result) => JSON.stringify(result),
        (e: Error) => e.message,
      );
      expect(error).toMatch(/Error POSTing to endpoint: upstream down for maintenance/);
      // Long before the bridge's own 120 s bound would have answered it.
      expect(Date.now() - started).toBeLessThan(60_000);
    } finally {
      await client.close();
      await bridge.drain();
      await upstream.close();
    }
  });
});
