import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import { freePort } from '../../scripts/processes.ts';
import { connect, longRunning, metricsText, repo, sample } from '../helpers/bridge.ts';
import { modernClient } from '../helpers/modern.ts';

/** The Worker as deployed (its bundle in workerd), the real bridge, a real stdio server, an SDK client. */
describe('client → edge Worker (deploy bundle) → signed → bridge → server-everything', () => {
  let gateway: LocalGateway;
  let client: Client;

  beforeAll(async () => {
    // The demo's documents, and a named portal of two of them with tool search on.
    const documentsDir = await mkdtemp(join(tmpdir(), 'documents-'));
    await cp(join(repo, 'servers'), documentsDir, { recursive: true });
    const search = {
      version: 1,
      name: 'search',
      access: { groups: ['developers'] },
      portal: { members: ['everything', 'yardstick'], toolSearch: true },
      policy: { tools: { allow: ['*'] }, prompts: {}, resources: {} },
    };
    await writeFile(join(documentsDir, 'search.json'), JSON.stringify(search));
    gateway = await startLocalGateway({
      edgePort: await freePort(),
      freeBridgePorts: true,
      log: createLogger('error'),
      edge: 'deployed-bundle',
      documentsDir,
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

  describe('the portal at /mcp: every server the key may reach, behind one URL', () => {
    let portal: Client;
    beforeAll(async () => {
      portal = await connect(new URL(`${gateway.edgeUrl}/mcp`), 'e2e-portal', gateway.apiKey);
    });
    afterAll(async () => {
      await portal?.close();
    });

    it('lists each member under <server>__<name>, each filtered by its own document', async () => {
      const names = (await portal.listTools()).tools.map((t) => t.name);
      expect(names).toContain('everything__echo');
      expect(names).toContain('yardstick__echo');
      expect(names).toContain('fetch__fetch');
      expect(names).not.toContain('everything__get-env');
      const uris = (await portal.listResources()).resources.map((r) => r.uri);
      expect(uris.length).toBeGreaterThan(0);
      expect(uris.every((u) => u.startsWith('portal://everything/demo://resource/'))).toBe(true);
    });

    it('calls each member through both hops', async () => {
      const echo = await portal.callTool({ name: 'everything__echo', arguments: { message: 'via portal' } });
      expect(echo.content).toEqual([{ type: 'text', text: 'Echo: via portal' }]);
      const yardstick = await portal.callTool({ name: 'yardstick__echo', arguments: { input: 'one url' } });
      expect(yardstick.content).toEqual([{ type: 'text', text: 'one url' }]);
    });

    it('refuses a denied tool however it is spelled, at the edge', async () => {
      const attempts = [
        'everything__get-env',
        'Everything__get-env',
        'everything__GET-ENV',
        'everything__get\u2010env',
        'everything__everything__get-env',
        'nobody__get-env',
        'get-env',
      ];
      for (const name of attempts) {
        const outcome = await portal.callTool({ name, arguments: {} }).catch((e: Error) => e);
        // Refused at the edge, or (a name the policy's `*` allows) unknown to the server: never run.
        if (outcome instanceof Error) {
          expect(String(outcome), name).toMatch(/MCP error -32\d+: Tool ".*" is not permitted for you/);
        } else {
          expect(outcome.isError, name).toBe(true);
          expect(JSON.stringify(outcome.content), name).not.toMatch(/PATH|HOME/);
        }
      }
      const direct = await portal.callTool({ name: 'everything__get-env', arguments: {} }).catch((e) => e);
      expect(String(direct)).toContain('Tool "get-env" is not permitted for you on MCP server "everything"');
      const read = await portal
        .readResource({ uri: 'portal://everything/file:///etc/passwd' })
        .catch((e: Error) => e);
      expect(String(read)).toMatch(/not permitted for you on MCP server "everything"/);
    });

    it('serves a 2026-07-28 client (SDK 2.x, pinned) statelessly, with the same names and refusals', async () => {
      const modern = await modernClient(new URL(`${gateway.edgeUrl}/mcp`), { token: gateway.apiKey });
      try {
        const names = (await modern.listTools()).tools.map((t) => t.name);
        expect(names).toContain('everything__echo');
        expect(names).not.toContain('everything__get-env');
        const echo = await modern.callTool({ name: 'yardstick__echo', arguments: { input: 'stateless' } });
        expect(echo.content).toEqual([{ type: 'text', text: 'stateless' }]);
        const denied = await modern
          .callTool({ name: 'everything__get-env', arguments: {} })
          .catch((e: Error) => e);
        expect(String(denied)).toContain(
          'Tool "get-env" is not permitted for you on MCP server "everything"',
        );
      } finally {
        await modern.close();
      }
    });

    it('a tool-search portal shows find_tools and call_tool; what they find and call obeys each allowlist', async () => {
      const searching = await connect(new URL(`${gateway.edgeUrl}/search/mcp`), 'e2e-search', gateway.apiKey);
      try {
        expect((await searching.listTools()).tools.map((t) => t.name)).toEqual(['find_tools', 'call_tool']);
        const find = async (query: string) => {
          const result = await searching.callTool({ name: 'find_tools', arguments: { query, limit: 50 } });
          return (result.structuredContent as { tools: { name: string }[] }).tools.map((t) => t.name);
        };
        expect(await find('echo')).toEqual(expect.arrayContaining(['everything__echo', 'yardstick__echo']));
        expect(await find('environment variables env')).not.toContain('everything__get-env');
        const called = await searching.callTool({
          name: 'call_tool',
          arguments: { name: 'everything__echo', arguments: { message: 'found it' } },
        });
        expect(called.content).toEqual([{ type: 'text', text: 'Echo: found it' }]);
        const denied = await searching
          .callTool({ name: 'call_tool', arguments: { name: 'everything__get-env' } })
          .catch((e: Error) => e);
        expect(String(denied)).toContain(
          'Tool "get-env" is not permitted for you on MCP server "everything"',
        );
      } finally {
        await searching.close();
      }
    });
  });
});
