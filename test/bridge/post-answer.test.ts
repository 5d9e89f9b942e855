import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../bridge/config.ts';
import { createLogger } from '../../bridge/log.ts';
import { createMetrics, KnownNames } from '../../bridge/metrics/metrics.ts';
import { ownRequest, PostAnswer } from '../../bridge/sessions/post-answer.ts';
import { type ServerContext, Session } from '../../bridge/sessions/session.ts';
import { EventStream, keepAliveMs } from '../../bridge/stateless/writer.ts';
import type { Channel } from '../../bridge/upstream/channel.ts';
import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';

const call = {
  jsonrpc: '2.0',
  id: 2,
  method: 'tools/call',
  params: { name: 'echo', arguments: { message: 'hi' } },
};
const answer: JSONRPCMessage = { jsonrpc: '2.0', id: 2, result: { content: [] } };
const progress: JSONRPCMessage = {
  jsonrpc: '2.0',
  method: 'notifications/progress',
  params: { progressToken: 't', progress: 1 },
};
const good = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-11-25',
};

/** An SDK transport past `initialize`, as a session's is: its id, and its verdict on a POST. */
async function initializedTransport() {
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: () => 'session-1' });
  const taken: JSONRPCMessage[] = [];
  transport.onmessage = (message) => {
    taken.push(message);
    if ('id' in message && 'method' in message && message.method === 'initialize') {
      void transport.send({ jsonrpc: '2.0', id: message.id, result: { protocolVersion: '2025-11-25' } });
    }
  };
  const params = {
    protocolVersion: '2025-11-25',
    capabilities: {},
    clientInfo: { name: 'test', version: '1' },
  };
  const opened = await transport.handleRequest(
    request({ jsonrpc: '2.0', id: 1, method: 'initialize', params }, good),
  );
  expect(opened.headers.get('mcp-session-id')).toBe('session-1');
  await opened.text();
  taken.length = 0;
  return { transport, taken };
}

function request(body: unknown, headers: Record<string, string>): Request {
  return new Request('http://127.0.0.1/everything/mcp', {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
}

describe('a POSTed request the session answers itself', () => {
  it("is the one the SDK transport would take, by its checks; everything else stays the SDK transport's", async () => {
    const { transport, taken } = await initializedTransport();
    const session = { 'mcp-session-id': 'session-1' };
    const cases: { body: unknown; headers: Record<string, string>; verdict: 'own' | 'refused' | 'sdk' }[] = [
      { body: call, headers: { ...good, ...session }, verdict: 'own' },
      { body: call, headers: { ...good, 'mcp-protocol-version': '2025-03-26', ...session }, verdict: 'own' },
      {
        body: call,
        headers: { 'content-type': 'application/json; charset=utf-8', accept: good.accept, ...session },
        verdict: 'own',
      },
      {
        body: { ...call, method: 'ping', params: undefined },
        headers: { ...good, ...session },
        verdict: 'own',
      },
      { body: call, headers: { ...good, accept: 'application/json', ...session }, verdict: 'refused' },
      { body: call, headers: { ...good, accept: 'text/event-stream', ...session }, verdict: 'refused' },
      { body: call, headers: { ...good, 'content-type': 'text/plain', ...session }, verdict: 'refused' },
      {
        body: call,
        headers: { ...good, 'content-type': 'text/plain; a=application/json', ...session },
        verdict: 'refused',
      },
      { body: call, headers: { ...good, 'mcp-session-id': 'session-2' }, verdict: 'refused' },
      { body: call, headers: good, verdict: 'refused' },
      {
        body: call,
        headers: { ...good, 'mcp-protocol-version': '1999-01-01', ...session },
        verdict: 'refused',
      },
      { body: { ...call, id: { not: 'an id' } }, headers: { ...good, ...session }, verdict: 'refused' },
      { body: { ...call, extra: true }, headers: { ...good, ...session }, verdict: 'refused' },
      { body: [call], headers: { ...good, ...session }, verdict: 'sdk' },
      {
        body: { jsonrpc: '2.0', method: 'notifications/initialized' },
        headers: { ...good, ...session },
        verdict: 'sdk',
      },
      { body: answer, headers: { ...good, ...session }, verdict: 'sdk' },
      { body: { ...call, method: 'initialize' }, headers: { ...good, ...session }, verdict: 'sdk' },
    ];
    for (const { body, headers, verdict } of cases) {
      const mine = ownRequest(request(body, headers), body, 'session-1');
      const named = JSON.stringify({ body, headers });
      expect(mine !== undefined, named).toBe(verdict === 'own');
      if (verdict === 'sdk') continue; // initialize, a batch, a notification, a response: the SDK's to take
      taken.length = 0;
      const sdk = await transport.handleRequest(request(body, headers));
      if (verdict === 'own') {
        // What the SDK transport does with it: a stream for its answer, the same message handed on.
        expect(sdk.status, named).toBe(200);
        expect(sdk.headers.get('content-type')).toBe('text/event-stream');
        expect(taken).toEqual([mine]);
        await sdk.body?.cancel();
      } else {
        // One it refuses, the session leaves to it: a refusal, nothing handed on.
        expect(sdk.status, named).toBeGreaterThanOrEqual(400);
        expect(taken).toEqual([]);
      }
    }
    await transport.close();
  });

  it('does not take a request before the session has an id', () => {
    expect(ownRequest(request(call, good), call, undefined)).toBeUndefined();
  });
});

describe('the answer to a POSTed request', () => {
  afterEach(() => vi.useRealTimers());

  it('is one JSON body, with the session id, when the answer is the first thing said', async () => {
    const posted = new PostAnswer('session-1');
    posted.write(answer, '{"jsonrpc":"2.0","id":2,"result":{"content":[]}}', true);
    const response = await posted.response;
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('mcp-session-id')).toBe('session-1');
    expect(await response.text()).toBe('{"jsonrpc":"2.0","id":2,"result":{"content":[]}}');
    posted.write(answer, undefined, true); // written once: a second answer is nobody's
  });

  it('is a stream of what came first and then the answer, which ends it', async () => {
    const posted = new PostAnswer('session-1');
    posted.write(progress, undefined, false);
    posted.write(answer, undefined, true);
    const response = await posted.response;
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(response.headers.get('mcp-session-id')).toBe('session-1');
    const events = (await response.text()).split('\n\n').filter(Boolean);
    expect(events.map((e) => JSON.parse(e.split('data: ')[1] ?? 'null'))).toEqual([progress, answer]);
  });

  it('is a stream whose headers go when nothing is said within the wait, then ends with the answer', async () => {
    const posted = new PostAnswer('session-1', 20);
    const response = await posted.response;
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    posted.write(answer, undefined, true);
    expect(await response.text()).toBe(`event: message\ndata: ${JSON.stringify(answer)}\n\n`);
  });

  it('ends without the answer when the session ends first', async () => {
    const posted = new PostAnswer('session-1');
    posted.close();
    expect(await (await posted.response).text()).toBe('');
    posted.write(answer, undefined, true);
  });

  it('takes what comes once the client left, and writes it nowhere', async () => {
    const posted = new PostAnswer('session-1');
    posted.write(progress, undefined, false);
    await (await posted.response).body?.cancel();
    posted.write(progress, undefined, false);
    posted.write(answer, undefined, true);
  });
});

/** A session on a channel of the test's own: what the client sends, and a way to speak as the server. */
async function openSession() {
  const sent: JSONRPCMessage[] = [];
  const channel: Channel = {
    send: async (message) => {
      sent.push(message);
      if ('method' in message && message.method === 'initialize' && 'id' in message) {
        const result = {
          protocolVersion: '2025-11-25',
          capabilities: {},
          serverInfo: { name: 's', version: '1' },
        };
        queueMicrotask(() => channel.onmessage?.({ jsonrpc: '2.0', id: message.id, result }));
      }
    },
    setProtocolVersion: () => undefined,
    close: async () => undefined,
  };
  const config = parseConfig({
    version: 1,
    servers: [{ name: 't', transport: { type: 'stdio', command: 'x' } }],
  }).servers[0];
  const ctx = {
    config,
    metrics: createMetrics(),
    log: createLogger('error', {}, () => undefined),
    names: new KnownNames(),
    newSessionId: () => 'session-1',
  } as unknown as ServerContext;
  const session = new Session(ctx, channel, undefined, {
    onInitialized: () => undefined,
    onEnd: () => undefined,
  });
  const params = { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } };
  const init = { jsonrpc: '2.0', id: 0, method: 'initialize', params };
  await (await session.handle(request(init, good), init)).text();
  const headers = { ...good, 'mcp-session-id': 'session-1' };
  return {
    session,
    post: (body: unknown) => session.handle(request(body, headers), body),
    get: () => session.handle(new Request('http://127.0.0.1/everything/mcp', { headers }), undefined),
    speak: (message: JSONRPCMessage) => channel.onmessage?.(message),
  };
}

describe('a session answering a request itself', () => {
  it('sends what comes for a request whose client left nowhere, not to the GET stream', async () => {
    const { session, post, get, speak } = await openSession();
    const stream = ((await get()).body as ReadableStream<Uint8Array>).getReader();
    const asked = post({ ...call, params: { ...call.params, _meta: { progressToken: 't' } } });
    speak(progress);
    const answerStream = ((await asked).body as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await answerStream.read()).value)).toContain('notifications/progress');
    await answerStream.cancel();
    speak(progress);
    speak({
      jsonrpc: '2.0',
      id: 99,
      method: 'elicitation/create',
      params: { message: 'sure?', requestedSchema: {} },
    });
    speak(answer);
    await new Promise((resolve) => setTimeout(resolve, 0)); // anything written elsewhere is written by now
    // What concerns the whole session still reaches the GET stream, and it is the first thing there.
    speak({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    expect(new TextDecoder().decode((await stream.read()).value)).toContain(
      'notifications/tools/list_changed',
    );
    await session.end('client');
  });
});

describe('an event stream', () => {
  afterEach(() => vi.useRealTimers());

  it('writes a keep-alive comment while it has nothing to say, and none once it has ended', async () => {
    vi.useFakeTimers();
    const stream = new EventStream();
    const reader = (stream.response.body as ReadableStream<Uint8Array>).getReader();
    vi.advanceTimersByTime(keepAliveMs);
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toBe(': keepalive\n\n');
    stream.end();
    vi.advanceTimersByTime(keepAliveMs * 2);
    expect((await reader.read()).done).toBe(true);
  });
});
