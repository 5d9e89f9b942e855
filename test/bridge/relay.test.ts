import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connect,
  everything,
  longRunning,
  metricsText,
  sample,
  startTestBridge,
  type TestBridge,
  until,
} from '../helpers/bridge.ts';

describe('bridge fronting @modelcontextprotocol/server-everything over stdio', () => {
  let bridge: TestBridge;
  let client: Client;

  beforeAll(async () => {
    bridge = await startTestBridge([{ name: 'everything', transport: everything, pool: 2 }]);
    client = await connect(bridge.mcpUrl('everything'));
  });
  afterAll(async () => {
    await client?.close();
    await bridge?.drain();
  });

  it('initializes through the bridge and reports the real server', () => {
    expect(client.getServerVersion()?.name).toBe('mcp-servers/everything');
    expect(client.getServerCapabilities()?.tools).toBeDefined();
  });

  it('lists tools and calls echo', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('echo');
    const result = await client.callTool({ name: 'echo', arguments: { message: 'yardstick' } });
    expect(result.content).toEqual([{ type: 'text', text: 'Echo: yardstick' }]);
  });

  it('relays progress notifications on the request stream', async () => {
    const { result, progress } = await longRunning(client, 0.3, 3);
    expect(result.isError).toBeFalsy();
    expect(progress).toEqual([1, 2, 3]);
  });

  it('relays a server-to-client sampling request and the client answer', async () => {
    client.setRequestHandler(
      (await import('@modelcontextprotocol/sdk/types.js')).CreateMessageRequestSchema,
      async (request) => ({
        model: 'test-model',
        role: 'assistant',
        content: { type: 'text', text: `sampled: ${JSON.stringify(request.params.messages[0]?.content)}` },
      }),
    );
    const result = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi' } });
    expect(JSON.stringify(result.content)).toContain('sampled:');
  });

  it('counts requests, tool calls and sessions with ToolHive names and labels', async () => {
    const text = await until(async () => {
      const t = await metricsText(bridge);
      return sample(t, 'toolhive_mcp_tool_calls_total', { tool: 'echo', status: 'success' }) >= 1
        ? t
        : undefined;
    }, 'echo counted');
    expect(
      sample(text, 'toolhive_mcp_requests_total', {
        server: 'everything',
        transport: 'stdio',
        mcp_method: 'tools/call',
        mcp_resource_id: 'echo',
        status: 'success',
        status_code: '200',
      }),
    ).toBe(1);
    expect(sample(text, 'toolhive_mcp_request_duration_seconds_count', { mcp_method: 'tools/list' })).toBe(1);
    expect(
      sample(text, 'toolhive_mcp_active_connections', { server: 'everything', transport: 'stdio' }),
    ).toBe(1);
    expect(sample(text, 'mcp_bridge_child_processes', { state: 'busy' })).toBe(1);
  });

  it('labels a tool the server never listed as "other" and counts its error', async () => {
    const result = await client.callTool({ name: 'no-such-tool-x1', arguments: {} }).catch((e: Error) => e);
    expect(result).toBeDefined();
    const text = await metricsText(bridge);
    expect(text).not.toContain('no-such-tool-x1');
    expect(sample(text, 'toolhive_mcp_tool_calls_total', { tool: 'other', status: 'error' })).toBe(1);
  });

  it('ends the session on DELETE and answers 404 for it afterwards', async () => {
    const other = await connect(bridge.mcpUrl('everything'));
    const transport =
      other.transport as import('@modelcontextprotocol/sdk/client/streamableHttp.js').StreamableHTTPClientTransport;
    const sessionId = transport.sessionId ?? '';
    await transport.terminateSession();
    const after = await fetch(bridge.mcpUrl('everything'), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sessionId,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }),
    });
    expect(after.status).toBe(404);
    await other.close();
  });
});
