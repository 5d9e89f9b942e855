import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fixture,
  initializeRequest,
  metricsText,
  post,
  sample,
  startTestBridge,
  type TestBridge,
} from '../helpers/bridge.ts';

describe('bad input gets a clear error and the bridge stays up', () => {
  let bridge: TestBridge;
  let url: URL;
  let sessionId: string;

  beforeAll(async () => {
    bridge = await startTestBridge([
      { name: 'fixture', transport: fixture, pool: 1, limits: { maxBodyBytes: 64 * 1024 } },
    ]);
    url = bridge.mcpUrl('fixture');
    const init = await post(url, initializeRequest);
    sessionId = init.headers.get('mcp-session-id') ?? '';
    await init.text();
  });
  afterAll(() => bridge?.drain());

  const withSession = () => ({ 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' });

  async function refusal(response: Response) {
    const body = (await response.json()) as { error?: { code: number; message: string } };
    return { status: response.status, code: body.error?.code, message: body.error?.message ?? '' };
  }

  it('answers invalid JSON with 400 and a parse error', async () => {
    expect(await refusal(await post(url, '{"jsonrpc": "2.0", "id": 1,', withSession()))).toMatchObject({
      status: 400,
      code: -32700,
    });
  });

  it('answers a body that is JSON but not JSON-RPC with 400', async () => {
    const result = await refusal(await post(url, { hello: 'world' }, withSession()));
    expect(result.status).toBe(400);
    expect(result.code).toBeLessThan(-32000);
  });

  it('refuses an oversized body with 413 without reading it all', async () => {
    const big = JSON.stringify({
      jsonrpc: '2.0',
      id: 2,
      method: 'ping',
      params: { pad: 'x'.repeat(200 * 1024) },
    });
    const result = await refusal(await post(url, big, withSession()));
    expect(result).toMatchObject({ status: 413, message: expect.stringContaining('65536 bytes') });
  });

  it('answers an unknown session with 404 and a missing one with 400', async () => {
    const unknown = await post(
      url,
      { jsonrpc: '2.0', id: 3, method: 'ping' },
      { 'mcp-session-id': 'test.nope' },
    );
    expect(await refusal(unknown)).toMatchObject({ status: 404, code: -32001 });
    const missing = await post(url, { jsonrpc: '2.0', id: 4, method: 'ping' });
    expect(await refusal(missing)).toMatchObject({
      status: 400,
      message: expect.stringContaining('Mcp-Session-Id'),
    });
  });

  it('answers a request on the session that its headers do not allow, as the SDK transport does, and still serves', async () => {
    const ping = { jsonrpc: '2.0', id: 11, method: 'ping' };
    const jsonOnly = await post(url, ping, { ...withSession(), accept: 'application/json' });
    expect(await refusal(jsonOnly)).toMatchObject({
      status: 406,
      message: expect.stringContaining('Not Acceptable'),
    });
    const text = await post(url, ping, { ...withSession(), 'content-type': 'text/plain' });
    expect(await refusal(text)).toMatchObject({ status: 415 });
    const revision = await post(url, ping, { ...withSession(), 'mcp-protocol-version': '1999-01-01' });
    expect(await refusal(revision)).toMatchObject({
      status: 400,
      message: expect.stringContaining('Unsupported protocol version: 1999-01-01'),
    });
    const served = await post(url, ping, withSession());
    expect(served.headers.get('content-type')).toBe('application/json');
    expect(await served.json()).toEqual({ jsonrpc: '2.0', id: 11, result: {} });
  });

  it('ends the stream of a request the client cancelled, with no answer, and serves the next', async () => {
    const sleep = {
      jsonrpc: '2.0',
      id: 12,
      method: 'tools/call',
      params: { name: 'fault_sleep', arguments: { ms: 3000 } },
    };
    // Its headers come when it has waited a second for its answer: by then the session has it.
    const cancelled = await post(url, sleep, withSession());
    const cancel = {
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 12, reason: 'test' },
    };
    expect((await post(url, cancel, withSession())).status).toBe(202);
    expect(cancelled.headers.get('content-type')).toBe('text/event-stream');
    // Left open, it would wait for an answer that is not coming: the test times out.
    expect(await cancelled.text()).toBe('');
    // Another id: the child may still answer the cancelled one late, and a reused id would get it.
    const next = await post(url, { jsonrpc: '2.0', id: 13, method: 'ping' }, withSession());
    expect(await next.json()).toEqual({ jsonrpc: '2.0', id: 13, result: {} });
  });

  it('answers a wrong HTTP method with 405 and an Allow header', async () => {
    const response = await fetch(url, { method: 'PUT', body: '{}' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, POST, DELETE');
  });

  it('answers an unknown MCP method with the JSON-RPC method-not-found error', async () => {
    const response = await post(url, { jsonrpc: '2.0', id: 5, method: 'tools/destroy' }, withSession());
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('"code":-32601');
  });

  it('refuses a request under an id still in flight, so that no answer reaches the wrong stream', async () => {
    const call = {
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'fault_sleep', arguments: { ms: 1500 } },
    };
    // Its response's headers come once the session has taken the request: from then on it is in flight.
    const first = await post(url, call, withSession());
    const again = await post(url, { jsonrpc: '2.0', id: 7, method: 'tools/list' }, withSession());
    expect(await refusal(again)).toEqual({
      status: 400,
      code: -32600,
      message: expect.stringContaining('request id 7 is still in progress in this session; use a new id'),
    });
    expect(await first.text()).toContain('slept 1500');
  });

  it('answers unknown servers and paths with 404', async () => {
    expect((await post(new URL('/nope/mcp', bridge.url), initializeRequest)).status).toBe(404);
    // `/portal/mcp` is no way into the portal at `/mcp`, whatever its query says.
    const portal = new URL('/portal/mcp?servers=fixture', bridge.url);
    expect((await post(portal, initializeRequest)).status).toBe(404);
    expect((await fetch(new URL('/favicon.ico', bridge.url))).status).toBe(404);
  });

  it('is still alive and counted every refusal by reason', async () => {
    expect((await fetch(new URL('/healthz', bridge.url))).status).toBe(200);
    const ping = await post(url, { jsonrpc: '2.0', id: 6, method: 'ping' }, withSession());
    expect(await ping.text()).toContain('"result":{}');
    const text = await metricsText(bridge);
    for (const reason of ['invalid_json', 'body_too_large', 'unknown_session', 'missing_session']) {
      expect(sample(text, 'mcp_bridge_rejected_requests_total', { reason })).toBeGreaterThanOrEqual(1);
    }
  });
});
