import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalGateway } from '../../scripts/local-gateway.ts';
import { startAdminGateway } from '../helpers/admin-gateway.ts';
import { connect, everything, metricsText, sample, until } from '../helpers/bridge.ts';
import { mcpgw } from '../helpers/cli.ts';
import { echoOnBothRevisions, elicitAtOnce, modernClient, postModern } from '../helpers/modern.ts';

/** The 2025-11-25 suite's behaviours, with an SDK 2.x client speaking 2026-07-28 through edge and bridge. */
describe('MCP 2026-07-28 through the Worker (wrangler dev) and the bridge', { timeout: 120_000 }, () => {
  let gateway: LocalGateway;
  let root: string;
  let local: string[];
  let url: URL;
  const audited: Record<string, unknown>[] = [];

  beforeAll(async () => {
    // A second reference server whose calls of two tools the person approves first.
    const ops = {
      name: 'ops',
      bridge: everything,
      document: {
        access: { groups: ['developers'] },
        policy: { tools: { allow: ['*'] } },
        confirm: [{ tools: ['echo', 'trigger-elicitation-request'] }],
      },
    };
    ({ gateway, root, local } = await startAdminGateway('modern-', (event) => audited.push(event), ops));
    url = new URL(`${gateway.edgeUrl}/everything/mcp`);
  }, 120_000);
  afterAll(() => gateway?.stop());

  const callsAtBridge = async (tool: string) =>
    sample(await metricsText(gateway.bridge), 'toolhive_mcp_tool_calls_total', { tool });

  it('discovers the server, and lists only the tools the document allows', async () => {
    const client = await modernClient(url, { token: gateway.apiKey });
    try {
      expect(client.getProtocolEra()).toBe('modern');
      expect(client.getDiscoverResult()?.capabilities.tools).toBeDefined();
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('echo');
      expect(names).not.toContain('get-env');
      const result = await client.callTool({ name: 'echo', arguments: { message: 'modern, both hops' } });
      expect(result.content).toEqual([{ type: 'text', text: 'Echo: modern, both hops' }]);
    } finally {
      await client.close();
    }
  });

  it('refuses a denied tool at the edge; the bridge never sees it', async () => {
    const client = await modernClient(url, { token: gateway.apiKey });
    try {
      const error = await client.callTool({ name: 'get-env', arguments: {} }).catch((e: Error) => e);
      expect(String(error)).toContain('Tool "get-env" is not permitted for you on MCP server "everything"');
      expect(await callsAtBridge('get-env')).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('refuses headers that disagree with the body (-32020) before the policy looks, for any tool', async () => {
    const before = audited.length;
    const lying = await postModern(
      url,
      'tools/call',
      { name: 'get-env', arguments: {} },
      { 'mcp-name': 'echo' },
      undefined,
      {},
      gateway.apiKey,
    );
    expect(lying.status).toBe(400);
    expect(lying.body.error.code).toBe(-32020);
    const missing = await postModern(
      url,
      'tools/call',
      { name: 'echo', arguments: {} },
      { 'mcp-name': null },
      undefined,
      {},
      gateway.apiKey,
    );
    expect(missing.body.error.code).toBe(-32020);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Not audited: no policy was asked (an earlier test's line may still arrive meanwhile).
    expect(audited.slice(before).filter((e) => e.decision === 'header_mismatch')).toEqual([]);
    expect(await callsAtBridge('get-env')).toBe(0);
  });

  it('never trusts mirrored headers on 2025 traffic: the policy decides on the body', async () => {
    const legacy = await connect(url, 'legacy-liar', gateway.apiKey);
    try {
      // A 2025 client adding Mcp-Name: echo to a call of get-env gets the policy's answer for get-env.
      const headers = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${gateway.apiKey}`,
        'mcp-session-id': (legacy.transport as { sessionId?: string }).sessionId ?? '',
        'mcp-protocol-version': '2025-11-25',
        'mcp-method': 'tools/call',
        'mcp-name': 'echo',
      };
      const body = {
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'get-env', arguments: {} },
      };
      const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
      expect(await response.text()).toContain('-32005');
    } finally {
      await legacy.close();
    }
  });

  it('answers an unknown version with -32022 and 400, naming the one it serves', async () => {
    const future = await postModern(url, 'tools/list', {}, {}, '2099-01-01', {}, gateway.apiKey);
    expect(future.status).toBe(400);
    expect(future.body.error).toMatchObject({ code: -32022, data: { supported: ['2026-07-28'] } });
    const removed = await postModern(url, 'initialize', {}, {}, undefined, {}, gateway.apiKey);
    expect(removed.status).toBe(404);
    expect(removed.body.error.code).toBe(-32601);
  });

  it('relays progress of a long call over both hops, before its answer', async () => {
    const client = await modernClient(url, { token: gateway.apiKey });
    try {
      const progress: number[] = [];
      await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.2, steps: 2 } },
        { onprogress: (p) => progress.push(p.progress) },
      );
      expect(progress).toEqual([1, 2]);
    } finally {
      await client.close();
    }
  });

  it('carries an input-required round trip through the edge, back to the child that asked', async () => {
    const names = ['Ada', 'Grace'];
    const texts = await elicitAtOnce(url, names, gateway.apiKey);
    texts.forEach((text, i) => {
      expect(text).toContain(names[i]);
      expect(text).not.toContain(names[1 - i]);
    });
  });

  it('asks the person before a call the document names, with the SDK 2.x and 1.x clients answering', async () => {
    const opsUrl = new URL(`${gateway.edgeUrl}/ops/mcp`);
    const questions: string[] = [];
    const answering = (action: 'accept' | 'decline') => async (request: { params: { message: string } }) => {
      questions.push(request.params.message);
      // The gateway's question has nothing to fill in; server-everything's asks for a name.
      const ours = request.params.message.startsWith('Allow the call of');
      const content: Record<string, string | boolean> = ours ? {} : { name: 'Ada', check: true };
      return { action, content };
    };
    const opsCalls = async () =>
      sample(await metricsText(gateway.bridge), 'toolhive_mcp_tool_calls_total', {
        server: 'ops',
        tool: 'echo',
      });
    const accepting = await modernClient(opsUrl, { token: gateway.apiKey, elicitation: answering('accept') });
    const declining = await modernClient(opsUrl, {
      token: gateway.apiKey,
      elicitation: answering('decline'),
    });
    const unable = await modernClient(opsUrl, { token: gateway.apiKey });
    const legacy = await connect(opsUrl, 'legacy-approver', gateway.apiKey);
    legacy.setRequestHandler(ElicitRequestSchema, answering('accept'));
    try {
      // Listed first, so that the bridge's metrics name the tool.
      expect((await accepting.listTools()).tools.map((t) => t.name)).toContain('echo');
      const result = await accepting.callTool({ name: 'echo', arguments: { message: 'approved' } });
      expect(result.content).toEqual([{ type: 'text', text: 'Echo: approved' }]);
      expect(questions).toEqual(['Allow the call of "echo" on the MCP server "ops"?\nmessage: "approved"']);
      const refused = await declining
        .callTool({ name: 'echo', arguments: { message: 'no' } })
        .catch((e) => e);
      expect(String(refused)).toContain(
        'You did not approve the call of "echo" on MCP server "ops" (declined)',
      );
      const cannot = await unable.callTool({ name: 'echo', arguments: { message: 'no' } }).catch((e) => e);
      expect(String(cannot)).toContain('this client cannot ask you (it did not declare elicitation)');
      expect(await opsCalls()).toBe(1);
      // The server's own question after the gateway's: both answered, the approval carried on.
      const asked = await accepting.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      expect(JSON.stringify(asked.content)).toContain('Ada');
      // Asked: echo twice (accepted, declined), then the gateway's question and the server's own.
      expect(questions).toHaveLength(4);
      expect(questions[2]).toContain('"trigger-elicitation-request" on the MCP server "ops"');
      // SDK 1.x: the question on the call's own stream, the answer in another POST.
      const old = await legacy.callTool({ name: 'echo', arguments: { message: 'on a session' } });
      expect(old.content).toEqual([{ type: 'text', text: 'Echo: on a session' }]);
      expect(questions.at(-1)).toContain('message: "on a session"');
      expect(await opsCalls()).toBe(2);
      const approvedCalls = () =>
        audited.filter((e) => e.server === 'ops' && e.tool === 'echo' && e.approval !== undefined);
      await until(() => approvedCalls().length === 2, 'the audit lines of the approved calls', 10_000);
      const approved = approvedCalls();
      expect(approved[0]?.approval).toEqual({ by: 'developer', at: expect.any(String) });
      // Through the portal, on either revision: the member's document asks the same question.
      const portalUrl = new URL(`${gateway.edgeUrl}/mcp`);
      const viaPortal = await modernClient(portalUrl, {
        token: gateway.apiKey,
        elicitation: answering('accept'),
      });
      const legacyPortal = await connect(portalUrl, 'legacy-portal', gateway.apiKey);
      legacyPortal.setRequestHandler(ElicitRequestSchema, answering('accept'));
      try {
        for (const client of [viaPortal, legacyPortal]) {
          const echoed = await client.callTool({ name: 'ops__echo', arguments: { message: 'portal' } });
          expect(echoed.content).toEqual([{ type: 'text', text: 'Echo: portal' }]);
          expect(questions.at(-1)).toBe(
            'Allow the call of "echo" on the MCP server "ops"?\nmessage: "portal"',
          );
        }
      } finally {
        await Promise.all([viaPortal.close(), legacyPortal.close()]);
      }
      expect(audited.find((e) => e.server === 'ops' && e.decision === 'declined')).toBeDefined();
    } finally {
      await Promise.all([accepting, declining, unable, legacy].map((c) => c.close()));
    }
  });

  it('serves both revisions at once on the same URL with no cross-talk', async () => {
    const { expected, got } = await echoOnBothRevisions(url, 10, gateway.apiKey);
    expect(got).toEqual(expected);
  });

  it('tells a subscriptions/listen stream that the tools changed when the document does', async () => {
    const client = await modernClient(url, { token: gateway.apiKey });
    const changed: unknown[] = [];
    client.setNotificationHandler('notifications/tools/list_changed', (n) => {
      changed.push(n);
    });
    const subscription = await client.listen({ toolsListChanged: true });
    try {
      expect(subscription.honoredFilter).toEqual({ toolsListChanged: true });
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const before = changed.length;
      const file = join(root, 'servers/everything.json');
      const doc = JSON.parse(readFileSync(file, 'utf8'));
      doc.policy.tools.deny = ['get-env', 'echo'];
      writeFileSync(file, JSON.stringify(doc, null, 2));
      const applied = await mcpgw(['apply', '--yes', ...local]);
      expect(applied.code).toBe(0);
      await until(() => changed.length > before, 'a list_changed notification on the listen stream', 20_000);
      expect(JSON.stringify(changed.at(-1))).toContain('io.modelcontextprotocol/subscriptionId');
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).not.toContain('echo');
    } finally {
      await subscription.close();
      await client.close();
    }
  });
});
