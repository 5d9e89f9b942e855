import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalGateway } from '../../scripts/local-gateway.ts';
import { signingFetch } from '../../scripts/signing-fetch.ts';
import { globMatches } from '../../shared/policy/glob.ts';
import { startGatewayWith } from '../helpers/admin-gateway.ts';
import { connect, everythingServer } from '../helpers/bridge.ts';
import { modernClient } from '../helpers/modern.ts';

const key = 'mcpgw_test_reader_0123456789abcdef';
const docsPattern = 'demo://resource/static/document/s*';
const textPattern = 'demo://resource/dynamic/text/*';

const refusal = (error: unknown) => String(error instanceof Error ? error.message : error);

/**
 * Least privilege for prompts and resources, through the deployed Worker bundle and the bridge, with
 * server-everything (which offers both): what a document does not allow is neither listed nor
 * served, on either protocol revision, whoever asks and however the URI is spelled.
 */
describe('prompts and resources are default-deny, through the Worker and the bridge', {
  timeout: 240_000,
}, () => {
  let gateway: LocalGateway;
  const url = (server: string) => new URL(`${gateway.edgeUrl}/${server}/mcp`);
  /** What the server offers, asked of the bridge directly (signed as the edge would). */
  let offered: { resources: string[]; templates: string[]; prompts: string[] };

  beforeAll(async () => {
    const bridge = {
      transport: { type: 'stdio', command: process.execPath, args: [everythingServer, 'stdio'] },
      pool: 1,
    };
    const access = { principals: ['reader'] };
    const policies = {
      'two-tools': { tools: { allow: ['echo', 'get-sum'] } },
      'one-pattern': { tools: { allow: ['echo'] }, resources: { allow: [docsPattern] } },
      templates: { tools: { allow: ['echo'] }, resources: { allow: [textPattern] } },
    };
    const servers = Object.fromEntries(
      Object.entries(policies).map(([name, policy]) => [name, { bridge, document: { access, policy } }]),
    );
    gateway = await startGatewayWith('default-deny-', servers, { [key]: 'reader' });
    const direct = new Client({ name: 'direct', version: '1' });
    const fetch = signingFetch({ subject: 'reader', groups: [], method: 'api_key' }, gateway.signingSecret);
    await direct.connect(
      new StreamableHTTPClientTransport(new URL(`${gateway.bridge.url}/one-pattern/mcp`), { fetch }),
    );
    offered = {
      resources: (await direct.listResources()).resources.map((r) => r.uri),
      templates: (await direct.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate),
      prompts: (await direct.listPrompts()).prompts.map((p) => p.name),
    };
    await direct.close();
  }, 120_000);
  afterAll(() => gateway?.stop());

  it('the server offers resources, templates and prompts when asked directly', () => {
    expect(offered.resources.length).toBeGreaterThan(0);
    expect(offered.templates).toContain(textPattern.replace('*', '{resourceId}'));
    expect(offered.prompts).toContain('simple-prompt');
  });

  it('two tools allowed, nothing else: no prompt, resource or template listed, read, got or completed (2025-11-25)', async () => {
    const client = await connect(url('two-tools'), 'legacy', key);
    try {
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo', 'get-sum']);
      expect((await client.listPrompts()).prompts).toEqual([]);
      expect((await client.listResources()).resources).toEqual([]);
      expect((await client.listResourceTemplates()).resourceTemplates).toEqual([]);
      const read = await client.readResource({ uri: offered.resources[0] ?? '' }).catch(refusal);
      expect(read).toContain('is not permitted for you on MCP server "two-tools" (not allowed)');
      const prompt = await client.getPrompt({ name: 'simple-prompt' }).catch(refusal);
      expect(prompt).toContain('Prompt "simple-prompt" is not permitted');
      const completion = await client
        .complete({
          ref: { type: 'ref/prompt', name: 'completable-prompt' },
          argument: { name: 'department', value: 'E' },
        })
        .catch(refusal);
      expect(completion).toContain('Prompt "completable-prompt" is not permitted');
      const templated = await client
        .complete({
          ref: { type: 'ref/resource', uri: offered.templates[0] ?? '' },
          argument: { name: 'resourceId', value: '1' },
        })
        .catch(refusal);
      expect(templated).toContain('is not permitted');
    } finally {
      await client.close();
    }
  });

  it('two tools allowed, nothing else: the same on 2026-07-28, and discovery shows no prompts or resources', async () => {
    const client = await modernClient(url('two-tools'), { token: key });
    try {
      const capabilities = client.getDiscoverResult()?.capabilities ?? {};
      expect([capabilities.tools !== undefined, capabilities.prompts, capabilities.resources]).toEqual([
        true,
        undefined,
        undefined,
      ]);
      expect((await client.listPrompts()).prompts).toEqual([]);
      expect((await client.listResources()).resources).toEqual([]);
      expect((await client.listResourceTemplates()).resourceTemplates).toEqual([]);
      const read = await client.readResource({ uri: offered.resources[0] ?? '' }).catch(refusal);
      expect(read).toContain('is not permitted for you on MCP server "two-tools"');
      expect(await client.getPrompt({ name: 'simple-prompt' }).catch(refusal)).toContain('is not permitted');
    } finally {
      await client.close();
    }
  });

  const matching = (pattern: string, uris: string[]) => uris.filter((uri) => globMatches(pattern, uri));

  it('one resource pattern allowed: exactly the matching resources, and only those read, however spelled', async () => {
    const client = await connect(url('one-pattern'), 'legacy', key);
    try {
      const listed = (await client.listResources()).resources.map((r) => r.uri);
      expect(listed).toEqual(matching(docsPattern, offered.resources));
      expect([listed.length > 0, listed.length < offered.resources.length]).toEqual([true, true]);
      expect((await client.listResourceTemplates()).resourceTemplates).toEqual([]);
      expect((await client.listPrompts()).prompts).toEqual([]);
      for (const uri of [
        'demo://resource/static/document/startup.md',
        'DEMO://resource/static/document/startup.md',
      ]) {
        const read = await client.readResource({ uri });
        expect(read.contents[0]?.uri, uri).toBe('demo://resource/static/document/startup.md');
      }
      // The same resource escaped passes the edge as written; this server matches URIs exactly.
      const escaped = 'demo://resource/static/document/%73tartup.md';
      expect(await client.readResource({ uri: escaped }).catch(refusal)).toContain('not found');
      for (const uri of [
        'demo://resource/static/document/features.md',
        'demo://resource/static/document/%66eatures.md',
        'demo://resource/static/document/s/../features.md',
        'demo://resource/static/document/startup.md/%2E%2E/features.md',
        'demo://resource/static/document/s%2F..%2Ffeatures.md',
        'demo://resource/static/document/s%252F..%252Ffeatures.md',
      ]) {
        expect(await client.readResource({ uri }).catch(refusal), uri).toContain('is not permitted');
      }
    } finally {
      await client.close();
    }
  });

  it('a template pattern: only its template listed; an expansion elsewhere is refused', async () => {
    const client = await connect(url('templates'), 'legacy', key);
    try {
      const templates = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
      expect(templates).toEqual(matching(textPattern, offered.templates));
      expect(templates).toHaveLength(1);
      const read = await client.readResource({ uri: 'demo://resource/dynamic/text/1' });
      expect(read.contents[0]?.uri).toBe('demo://resource/dynamic/text/1');
      for (const uri of ['demo://resource/dynamic/blob/1', 'demo://resource/dynamic/text/../blob/1']) {
        expect(await client.readResource({ uri }).catch(refusal), uri).toContain('is not permitted');
      }
    } finally {
      await client.close();
    }
  });
});
