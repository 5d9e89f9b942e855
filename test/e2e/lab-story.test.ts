import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import { freePort } from '../../scripts/processes.ts';
import { connect, metricsText, repo, sample, until } from '../helpers/bridge.ts';
import { mcpgw } from '../helpers/cli.ts';

/**
 * The ToolHive lab's tool-filtering exercise, as one story through the whole path: list,
 * call an allowed tool, call a denied one, tighten the allowlist and set a quota with mcpgw, see
 * the open client told (list_changed) and its new list, use the quota up, then what the bridge's
 * Prometheus counters say.
 */
describe('the lab’s story, through the whole path', { timeout: 120_000 }, () => {
  let gateway: LocalGateway;
  let client: Client;
  let portal: Client;
  let root: string;
  const listChanged: number[] = [];
  const portalChanged: number[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lab-story-'));
    cpSync(join(repo, 'servers'), join(root, 'servers'), { recursive: true });
    gateway = await startLocalGateway({
      edgePort: await freePort(),
      freeBridgePorts: true,
      persistTo: join(root, 'kv'),
      documentsDir: join(root, 'servers'),
      documentCacheSeconds: 1,
      log: createLogger('error'),
    });
    client = await connect(new URL(`${gateway.edgeUrl}/everything/mcp`), 'lab-client', gateway.apiKey);
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      listChanged.push(Date.now());
    });
    // The same person on the portal: every server behind one URL, told of the same change.
    portal = await connect(new URL(`${gateway.edgeUrl}/mcp`), 'lab-portal', gateway.apiKey);
    portal.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      portalChanged.push(Date.now());
    });
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await portal?.close();
    await gateway?.stop();
  });

  it('lists, calls, is refused, is told of a new allowlist, and the counters agree', async () => {
    expect((await portal.listTools()).tools.map((t) => t.name)).toContain(
      'everything__gzip-file-as-resource',
    );
    const before = (await client.listTools()).tools.map((t) => t.name);
    expect(before).toEqual(expect.arrayContaining(['echo', 'get-sum', 'gzip-file-as-resource']));
    expect(before).not.toContain('get-env');
    expect((await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } })).content).toEqual([
      { type: 'text', text: 'The sum of 2 and 3 is 5.' },
    ]);
    const refused = await client.callTool({ name: 'get-env', arguments: {} }).catch((e: Error) => e);
    expect(String(refused)).toContain('is not permitted for you on MCP server "everything"');

    // The admin makes the server read-only, as the lab's MCPToolConfig did, and allows each
    // person two get-sum calls an hour (a quota, counted at the edge).
    const file = join(root, 'servers/everything.json');
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    doc.policy.tools = { allow: ['echo', 'get-*'], deny: ['get-env'] };
    doc.quotas = [{ tools: ['get-sum'], limit: 2, per: 'hour' }];
    writeFileSync(file, JSON.stringify(doc, null, 2));
    // server-everything says its list changed when it is initialized (tools for the client's
    // capabilities): the change looked for is the one after the admin's.
    const [changed, portalChangedBefore] = [listChanged.length, portalChanged.length];
    const applied = await mcpgw([
      'apply',
      '--yes',
      '--local',
      '--persist-to',
      join(root, 'kv'),
      '--dir',
      join(root, 'servers'),
    ]);
    expect(applied.out).toContain('policy.tools.allow[0]: "*" → "echo"');

    await until(
      () => listChanged.length > changed || undefined,
      'notifications/tools/list_changed on the open stream',
      20_000,
    );
    await until(
      () => portalChanged.length > portalChangedBefore || undefined,
      'list_changed on the portal’s stream',
      20_000,
    );
    const portalAfter = (await portal.listTools()).tools.map((t) => t.name);
    expect(portalAfter).toContain('everything__get-sum');
    expect(portalAfter).not.toContain('everything__gzip-file-as-resource');
    const portalGone = await portal
      .callTool({ name: 'everything__gzip-file-as-resource', arguments: {} })
      .catch((e: Error) => e);
    expect(String(portalGone)).toContain('is not permitted');
    const after = (await client.listTools()).tools.map((t) => t.name);
    expect(after).toContain('get-sum');
    expect(after).not.toContain('gzip-file-as-resource');
    const gone = await client
      .callTool({ name: 'gzip-file-as-resource', arguments: {} })
      .catch((e: Error) => e);
    expect(String(gone)).toContain('is not permitted');
    for (const b of [1, 2]) await client.callTool({ name: 'get-sum', arguments: { a: 1, b } });
    const over = await client.callTool({ name: 'get-sum', arguments: { a: 1, b: 3 } }).catch((e: Error) => e);
    expect(over).toMatchObject({ code: -32029, data: { retryAfterSeconds: expect.any(Number) } });
    expect(String(over)).toContain('Quota exceeded: 2 calls of "get-sum" per hour');

    const metrics = await metricsText(gateway.bridge);
    expect(
      sample(metrics, 'toolhive_mcp_tool_calls_total', {
        server: 'everything',
        tool: 'get-sum',
        status: 'success',
      }),
    ).toBe(3);
    // Refused calls (a denied tool, a used-up quota) never reached the bridge.
    expect(metrics).not.toMatch(/toolhive_mcp_tool_calls_total\{[^}]*tool="(get-env|gzip-file-as-resource)"/);
    expect(
      sample(metrics, 'toolhive_mcp_requests_total', { server: 'everything', mcp_method: 'tools/call' }),
    ).toBe(3);
  });
});
