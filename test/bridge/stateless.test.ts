import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { everything, fixture, sample, startTestBridge, type TestBridge, until } from '../helpers/bridge.ts';
import { echoOnBothRevisions, elicitAtOnce, modernClient, postModern } from '../helpers/modern.ts';

describe('MCP 2026-07-28 clients on a bridge whose servers speak 2025-11-25', () => {
  let bridge: TestBridge;
  let url: URL;

  beforeAll(async () => {
    bridge = await startTestBridge([
      { name: 'everything', transport: everything, pool: 3, limits: { requestTimeoutSeconds: 20 } },
    ]);
    url = bridge.mcpUrl('everything');
  });
  afterAll(async () => {
    await bridge?.drain();
  });

  it('discovers the server from the initialize result of a child the bridge started', async () => {
    const client = await modernClient(url);
    try {
      expect(client.getProtocolEra()).toBe('modern');
      const discovered = client.getDiscoverResult();
      expect(discovered?.supportedVersions).toEqual(['2026-07-28']);
      expect(discovered?.capabilities.tools).toBeDefined();
      const tools = (await client.listTools()).tools.map((t) => t.name);
      expect(tools).toContain('echo');
      const result = await client.callTool({ name: 'echo', arguments: { message: 'stateless' } });
      expect(result.content).toEqual([{ type: 'text', text: 'Echo: stateless' }]);
      const metrics = await bridge.metrics.registry.metrics();
      const children = (state: string) => sample(metrics, 'mcp_bridge_child_processes', { state });
      // The child that served this (unsigned, so anonymous) caller is kept for that caller alone.
      expect([children('bound'), children('leased')]).toEqual([1, 0]);
    } finally {
      await client.close();
    }
  });

  it('answers with resultType and serverInfo, and no session id', async () => {
    const { status, headers, body } = await postModern(url, 'tools/call', {
      name: 'echo',
      arguments: { message: 'x' },
    });
    expect(status).toBe(200);
    expect(headers.get('mcp-session-id')).toBeNull();
    expect(body.result.resultType).toBe('complete');
    expect(body.result._meta['io.modelcontextprotocol/serverInfo'].name).toMatch(/everything/);
  });

  it('refuses headers that disagree with the body (-32020) and an unknown version (-32022), with 400', async () => {
    const mismatch = await postModern(
      url,
      'tools/call',
      { name: 'echo', arguments: { message: 'x' } },
      {
        'mcp-name': 'get-sum',
      },
    );
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.code).toBe(-32020);
    const missing = await postModern(
      url,
      'tools/call',
      { name: 'echo', arguments: {} },
      { 'mcp-method': null },
    );
    expect(missing.body.error.code).toBe(-32020);
    const future = await postModern(url, 'tools/list', {}, {}, '2099-01-01');
    expect(future.status).toBe(400);
    expect(future.body.error).toMatchObject({
      code: -32022,
      data: { supported: ['2026-07-28'], requested: '2099-01-01' },
    });
  });

  it('turns a server question into input_required and brings each answer back to the child that asked', async () => {
    const answers = ['Ada', 'Grace', 'Katherine'];
    const texts = await elicitAtOnce(url, answers);
    texts.forEach((text, i) => {
      expect(text).toContain(answers[i]);
      for (const other of answers.filter((_, j) => j !== i)) expect(text).not.toContain(other);
    });
  });

  it('shows the raw input_required round trip, and refuses a requestState it did not make', async () => {
    const first = await postModern(
      url,
      'tools/call',
      { name: 'trigger-elicitation-request', arguments: {} },
      {},
      '2026-07-28',
      { elicitation: {} },
    );
    expect(first.body.result.resultType).toBe('input_required');
    const [key, input] = Object.entries(first.body.result.inputRequests)[0] as [string, { method: string }];
    expect(input.method).toBe('elicitation/create');
    const forged = await postModern(url, 'tools/call', {
      name: 'trigger-elicitation-request',
      arguments: {},
      requestState: 'test.00000000-0000-4000-8000-000000000000',
      inputResponses: { [key]: { action: 'decline' } },
    });
    expect(forged.body.error.code).toBe(-32602);
    const retry = await postModern(url, 'tools/call', {
      name: 'trigger-elicitation-request',
      arguments: {},
      requestState: first.body.result.requestState,
      inputResponses: { [key]: { action: 'decline' } },
    });
    expect(retry.body.result.resultType).toBe('complete');
    expect(JSON.stringify(retry.body.result.content)).toMatch(/decline/i);
  });

  it('answers -32021 (400) when the server needs a capability the client did not declare', async () => {
    const { status, body } = await postModern(url, 'tools/call', {
      name: 'trigger-elicitation-request',
      arguments: {},
    });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: -32021, data: { requiredCapabilities: { elicitation: {} } } });
  });

  it('answers a question from inputResponses the request already carries, without asking', async () => {
    const first = await postModern(
      url,
      'tools/call',
      { name: 'trigger-elicitation-request', arguments: {} },
      {},
      undefined,
      {
        elicitation: {},
      },
    );
    const key = Object.keys(first.body.result.inputRequests)[0] ?? '';
    const again = await postModern(
      url,
      'tools/call',
      {
        name: 'trigger-elicitation-request',
        arguments: {},
        inputResponses: { [key]: { action: 'decline' } },
      },
      {},
      undefined,
      { elicitation: {} },
    );
    expect(again.body.result.resultType).toBe('complete');
  });

  it('removed and unknown methods get 404 with -32601', async () => {
    for (const method of ['initialize', 'ping', 'logging/setLevel', 'no/such']) {
      const { status, body } = await postModern(url, method, {});
      expect([method, status, body.error.code]).toEqual([method, 404, -32601]);
    }
  });

  it('streams progress of a long call before its answer', async () => {
    const client = await modernClient(url);
    try {
      const progress: number[] = [];
      const result = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
        { onprogress: (p) => progress.push(p.progress) },
      );
      expect(progress).toEqual([1, 2, 3]);
      expect(JSON.stringify(result.content)).toMatch(/completed/i);
    } finally {
      await client.close();
    }
  });

  it('tells the server when a client goes away mid-call, and lends that child to no one else', async () => {
    const closedExits = async () =>
      sample(await bridge.metrics.registry.metrics(), 'mcp_bridge_child_exits_total', { reason: 'closed' });
    const before = await closedExits();
    const client = await modernClient(url);
    try {
      const abort = new AbortController();
      // Gone once the call runs on a child (its first progress): earlier, no child would be involved.
      const call = client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 5, steps: 5 } },
        { signal: abort.signal, onprogress: () => abort.abort('changed my mind') },
      );
      await expect(call).rejects.toThrow();
      await until(async () => (await closedExits()) > before, 'the abandoned child ended');
    } finally {
      await client.close();
    }
  });

  it('serves both revisions at once on one URL, each on children of its own', async () => {
    const { expected, got } = await echoOnBothRevisions(url, 20);
    expect(got).toEqual(expected);
    const metrics = await bridge.metrics.registry.metrics();
    expect(
      sample(metrics, 'toolhive_mcp_tool_calls_total', { tool: 'echo', status: 'success' }),
    ).toBeGreaterThanOrEqual(40);
  });
});

describe('subscriptions/listen on the bridge', () => {
  it("carries a server's own list change to listeners, tagged, and ends them gracefully on drain", async () => {
    const bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 1 }]);
    const url = bridge.mcpUrl('fixture');
    const listener = await modernClient(url);
    const caller = await modernClient(url);
    try {
      const changed: unknown[] = [];
      listener.setNotificationHandler('notifications/tools/list_changed', (n) => {
        changed.push(n);
      });
      const subscription = await listener.listen({ toolsListChanged: true, promptsListChanged: true });
      expect(subscription.honoredFilter).toEqual({ toolsListChanged: true, promptsListChanged: true });
      await caller.callTool({ name: 'announce_tools_changed', arguments: {} });
      await until(() => changed.length > 0, 'the list change on the listen stream');
      expect(JSON.stringify(changed[0])).toContain('io.modelcontextprotocol/subscriptionId');
      await bridge.drain();
      expect(await subscription.closed).toBe('graceful');
    } finally {
      await Promise.all([listener.close(), caller.close()]);
      await bridge.drain();
    }
  });

  it('frees a listen stream when its client goes, and lets a retry with input in during a drain', async () => {
    const bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 1, limits: { maxSessions: 2 } },
    ]);
    const url = bridge.mcpUrl('fixture');
    try {
      for (let i = 0; i < 3; i++) {
        const client = await modernClient(url);
        const subscription = await client.listen({ toolsListChanged: true });
        await subscription.close();
        await client.close();
      }
      const asked = await postModern(
        url,
        'tools/call',
        { name: 'test_input_required_result_elicitation', arguments: {} },
        {},
        undefined,
        { elicitation: {} },
      );
      const { requestState } = asked.body.result;
      const draining = bridge.drain(10);
      // Asked while the continuation keeps the bridge busy: after the retry, it may already be closed.
      const fresh = await postModern(url, 'tools/list', {});
      expect(fresh.status).toBe(503);
      const retry = await postModern(
        url,
        'tools/call',
        {
          name: 'test_input_required_result_elicitation',
          arguments: {},
          requestState,
          inputResponses: { user_name: { action: 'accept', content: { name: 'Ada' } } },
        },
        {},
        undefined,
        { elicitation: {} },
      );
      expect(retry.body.result.content).toEqual([{ type: 'text', text: 'Hello, Ada!' }]);
      await draining;
    } finally {
      await bridge.drain();
    }
  });
});

describe('a server that lists roots while it asks for what the client lacks', () => {
  it('still answers -32021: the bridge answering roots for the client does not excuse the missing capability', async () => {
    const bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 1 }]);
    try {
      const { status, body } = await postModern(bridge.mcpUrl('fixture'), 'tools/call', {
        name: 'test_missing_capability',
        arguments: {},
      });
      expect(status).toBe(400);
      expect(body.error).toMatchObject({ code: -32021, data: { requiredCapabilities: { sampling: {} } } });
    } finally {
      await bridge.drain();
    }
  });
});
