import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import { freePort } from '../../scripts/processes.ts';
import { connect, longRunning, metricsText, sample } from '../helpers/bridge.ts';

/** The Worker as deployed (its bundle in workerd), the real bridge, a real stdio server, an SDK client. */
describe('client → edge Worker (deploy bundle) → signed → bridge → server-everything', () => {
  let gateway: LocalGateway;
  let client: Client;

  beforeAll(async () => {
    gateway = await startLocalGateway({
      edgePort: await freePort(),
      freeBridgePorts: true,
      log: createLogger('error'),
      edge: 'deployed-bundle',
    });
    client = await connect(new URL(`${gateway.edgeUrl}/everything/mcp`), 'e2e', gateway.apiKey);
  }, 90_000);

  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
  });

  it('lists the tools the document allows, without the denied one', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names).not.toContain('get-env');
  });

  it('calls an allowed tool through both hops', async () => {
    const result = await client.callTool({ name: 'echo', arguments: { message: 'through the edge' } });
    expect(result.content).toEqual([{ type: 'text', text: 'Echo: through the edge' }]);
  });

  it('refuses the denied tool at the edge with a JSON-RPC error, and the bridge never sees it', async () => {
    const error = await client.callTool({ name: 'get-env', arguments: {} }).catch((e: Error) => e);
    expect(String(error)).toContain('Tool "get-env" is not permitted for you on MCP server "everything"');
    const text = await metricsText(gateway.bridge);
    expect(sample(text, 'toolhive_mcp_tool_calls_total', { tool: 'echo', status: 'success' })).toBe(1);
    expect(sample(text, 'toolhive_mcp_requests_total', { mcp_method: 'tools/call' })).toBe(1);
  });

  it('relays progress notifications from the stdio server over both hops', async () => {
    const { progress } = await longRunning(client, 0.2, 2);
    expect(progress).toEqual([1, 2]);
  });

  it('answers without a key with 401, and the bridge refuses a request that skips the edge', async () => {
    const anonymous = await fetch(`${gateway.edgeUrl}/everything/mcp`, { method: 'POST', body: '{}' });
    expect(anonymous.status).toBe(401);
    const direct = await fetch(`${gateway.bridge.url}/everything/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }),
    });
    expect(direct.status).toBe(401);
  });

  it('reaches the Fetch server, a Streamable HTTP upstream, with the key', async () => {
    const fetchClient = await connect(new URL(`${gateway.edgeUrl}/fetch/mcp`), 'e2e-fetch', gateway.apiKey);
    const result = await fetchClient.callTool({
      name: 'fetch',
      arguments: { url: `${gateway.edgeUrl}/healthz` },
    });
    expect((result.content as { text: string }[])[0]?.text).toMatch(
      /^HTTP 200 application\/json\n\n\{"status":"alive"\}/,
    );
    await fetchClient.close();
  });

  it('lets anyone call Yardstick, the server open to anonymous callers', async () => {
    const anonymous = await connect(new URL(`${gateway.edgeUrl}/yardstick/mcp`), 'e2e-anonymous');
    const result = await anonymous.callTool({ name: 'echo', arguments: { input: 'anyone' } });
    expect(result.content).toEqual([{ type: 'text', text: 'anyone' }]);
    await anonymous.close();
  });
});
