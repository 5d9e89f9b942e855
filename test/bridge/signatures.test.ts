import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge } from '../../bridge/app.ts';
import { ConfigError, parseConfig } from '../../bridge/config.ts';
import { createLogger } from '../../bridge/log.ts';
import { signingFetch, testSecret } from '../../scripts/signing-fetch.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import { sign } from '../../shared/security/signing.ts';
import {
  fixture,
  initializeRequest,
  metricsText,
  sample,
  startTestBridge,
  type TestBridge,
} from '../helpers/bridge.ts';

const alice: Principal = { subject: 'alice', groups: ['viewers'], method: 'api_key' };
const bob: Principal = { subject: 'bob', groups: ['viewers'], method: 'api_key' };

describe('a bridge that requires the edge signature', () => {
  let bridge: TestBridge;
  let url: URL;

  beforeAll(async () => {
    process.env.BRIDGE_SIGNING_SECRET = testSecret;
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 1 }], {
      edge: { signatures: 'required' },
    });
    url = bridge.mcpUrl('fixture');
  });
  afterAll(async () => {
    delete process.env.BRIDGE_SIGNING_SECRET;
    await bridge?.drain();
  });

  async function signedPost(
    body: string,
    headers: Record<string, string> = {},
    principal = alice,
    at = Date.now() / 1000,
  ) {
    const signed = await sign(
      testSecret,
      {
        method: 'POST',
        path: url.pathname,
        sessionId: headers['mcp-session-id'],
        body: new TextEncoder().encode(body),
      },
      principal,
      at,
    );
    return {
      signed,
      send: (sent = body) =>
        fetch(url, { method: 'POST', body: sent, headers: { ...base, ...headers, ...signed } }),
    };
  }
  const base = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

  it('serves an SDK client whose requests the edge signed', async () => {
    const client = new Client({ name: 'signed', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(url, { fetch: signingFetch(alice) }));
    const result = await client.callTool({ name: 'fault_echo', arguments: { tag: 'signed' } });
    expect((result.content as { text: string }[])[0]?.text).toMatch(/^signed@/);
    const audit = bridge.logs.find((line) => line.includes('"event":"audit"'));
    expect(JSON.parse(audit ?? '{}')).toMatchObject({
      principal: 'alice',
      tool: 'fault_echo',
      status: 'success',
    });
    await client.close();
  });

  it('refuses unsigned, tampered (body or principal), stale and replayed requests with 401, each counted', async () => {
    const body = JSON.stringify(initializeRequest);
    expect((await fetch(url, { method: 'POST', body, headers: base })).status).toBe(401);
    const tampered = await signedPost(body);
    expect((await tampered.send(body.replace('curl', 'evil'))).status).toBe(401);
    const forged = await signedPost(body);
    const asBob = Buffer.from(JSON.stringify({ sub: 'bob', groups: ['admins'], method: 'api_key' })).toString(
      'base64url',
    );
    const tamperedPrincipal = await fetch(url, {
      method: 'POST',
      body,
      headers: { ...base, ...forged.signed, 'mcp-gateway-principal': asBob },
    });
    expect(tamperedPrincipal.status).toBe(401);
    const stale = await signedPost(body, {}, alice, Date.now() / 1000 - 120);
    expect((await stale.send()).status).toBe(401);
    const once = await signedPost(body);
    const first = await once.send();
    expect(first.status).toBe(200);
    await first.text();
    const replay = await once.send();
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({
      error: { message: 'Unauthorized: the edge signature is replayed' },
    });
    const text = await metricsText(bridge);
    const counted = (reason: string) =>
      sample(text, 'mcp_bridge_rejected_requests_total', { reason: `signature_${reason}` });
    expect(counted('unsigned')).toBe(1);
    expect(counted('bad_signature')).toBe(2); // tampered body, tampered principal
    expect(counted('stale')).toBe(1);
    expect(counted('replayed')).toBe(1);
  });

  it("answers 404 to another principal using a session's id", async () => {
    const opened = await (await signedPost(JSON.stringify(initializeRequest))).send();
    const sessionId = opened.headers.get('mcp-session-id') ?? '';
    await opened.text();
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' });
    const session = { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' };
    expect((await (await signedPost(ping, session, bob)).send()).status).toBe(404);
    const own = await (await signedPost(ping, session, alice)).send();
    expect(own.status).toBe(200);
    expect(await own.text()).toContain('"result":{}');
  });

  it("refuses another principal's requestState (2026-07-28), as if it did not exist", async () => {
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
    };
    const headers = {
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'test_input_required_result_elicitation',
    };
    const request = (params: Record<string, unknown>) =>
      JSON.stringify({
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'test_input_required_result_elicitation', arguments: {}, _meta: meta, ...params },
      });
    // biome-ignore lint/suspicious/noExplicitAny: JSON-RPC answers read by path
    const answer = async (body: string, who: Principal): Promise<any> =>
      (await (await signedPost(body, headers, who)).send()).json();
    const asked = await answer(request({}), alice);
    const { requestState } = asked.result;
    const answers = {
      inputResponses: { user_name: { action: 'accept', content: { name: 'Bob' } } },
      requestState,
    };
    const stolen = await answer(request(answers), bob);
    expect(stolen.error.code).toBe(-32602);
    const own = await answer(request(answers), alice);
    expect(own.result.content).toEqual([{ type: 'text', text: 'Hello, Bob!' }]);
  });
});

describe('start-up', () => {
  it('refuses to start without the secret when signatures are required', async () => {
    const config = parseConfig({
      version: 1,
      listen: { host: '0.0.0.0', port: 0 },
      metrics: { port: 0 },
      servers: [{ name: 'x', transport: fixture, pool: 0 }],
    });
    const start = startBridge(config, createLogger('error'), {});
    await expect(start).rejects.toBeInstanceOf(ConfigError);
    await expect(start).rejects.toThrow(/BRIDGE_SIGNING_SECRET: the edge signing secret must be set/);
  });
});
