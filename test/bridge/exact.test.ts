import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventData as answerData, jsonWhenAnsweredFirst } from '../../bridge/sessions/json-answer.ts';
import { PostedTexts } from '../../bridge/sessions/posted.ts';
import { complete, completeText, type Request } from '../../bridge/stateless/translate.ts';
import { LineReader, LineTooLong } from '../../bridge/upstream/lines.ts';
import { parseJson } from '../../shared/protocol/body.ts';
import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import { metaKeys, modernRevision } from '../../shared/protocol/revision.ts';
import { initializeRequest, post, repo, startTestBridge, type TestBridge } from '../helpers/bridge.ts';

const exact = { type: 'stdio', command: process.execPath, args: [join(repo, 'test/fixtures/exact.ts')] };
const big = '98765432109876543210987';

/** The data of each event in an SSE body: its lines end at CR, LF or CRLF, as SSE says. */
function eventData(body: string): string[] {
  return body
    .split(/\r\n|\r|\n/)
    .filter((line) => line.startsWith('data: '))
    .map((line) => line.slice('data: '.length));
}

/** A 2026-07-28 `tools/call` of the fixture's `exact` tool, with `meta` beside the revision's own. */
function modernCall(bridge: TestBridge, id: string, meta: Record<string, unknown> = {}): Promise<Response> {
  const envelope = { [metaKeys.protocolVersion]: modernRevision, [metaKeys.clientCapabilities]: {}, ...meta };
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'exact', arguments: {}, _meta: envelope },
  });
  const headers = { 'mcp-protocol-version': modernRevision, 'mcp-method': 'tools/call', 'mcp-name': 'exact' };
  return post(bridge.mcpUrl('exact'), body, headers);
}

/** A session on `server`: each POST after initialize answered as its raw response. */
async function opened(bridge: TestBridge, server: string) {
  const url = bridge.mcpUrl(server);
  const opening = await post(url, initializeRequest);
  const headers = {
    'mcp-session-id': opening.headers.get('mcp-session-id') ?? '',
    'mcp-protocol-version': '2025-11-25',
  };
  await opening.text();
  await (await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).text();
  return (body: string) => post(url, body, headers);
}

/** A session on `server`: a POST after initialize, answered with nothing before its answer: as JSON, the answer's text. */
async function session(bridge: TestBridge, server: string) {
  const send = await opened(bridge, server);
  return async (body: string): Promise<string> => {
    const response = await send(body);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    return response.text();
  };
}

const call = (id: number, name: string, args: string) =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${name}", "arguments":${args}}}`;
const progressCall = (id: number, name: string) =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${name}","arguments":{},"_meta":{"progressToken":"p"}}}`;

describe('a message through the bridge, as the text it came in', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startTestBridge([
      { name: 'exact', transport: exact, pool: 1 },
      { name: 'shared', transport: exact, sessions: 'shared' },
    ]);
  });
  afterAll(async () => {
    await bridge?.drain();
  });

  it('isolated: the child gets the request as sent, and the client the answer as written', async () => {
    const send = await session(bridge, 'exact');
    const request = call(7, 'exact', '{"n": 12345678901234567890123,  "s": "é\\u2028"}');
    const answer = await send(request);
    expect(answer).toBe(
      `{"jsonrpc":"2.0", "id":7, "result":{"content":[{"type":"text","text":${JSON.stringify(request)}}], "structuredContent":{"n": ${big}}}}`,
    );
  });

  it('a request in several lines reaches the child as one, and its answer comes back whole', async () => {
    const send = await session(bridge, 'exact');
    const answer = JSON.parse(
      await send(
        '{\n  "jsonrpc": "2.0",\r\n  "id": 8,\n  "method": "tools/call",\n  "params": {"name": "exact", "arguments": {}}\n}',
      ),
    );
    expect(answer.id).toBe(8);
    expect(JSON.parse(answer.result.content[0].text)).toEqual({
      jsonrpc: '2.0',
      id: 8,
      method: 'tools/call',
      params: { name: 'exact', arguments: {} },
    });
  });

  it('an answer with a carriage return inside its line goes out well-formed, as JSON or as an event', async () => {
    const send = await session(bridge, 'exact');
    const answer = JSON.parse(await send(call(9, 'crlf', '{}')));
    expect(answer.id).toBe(9);
    expect(answer.result.structuredContent.n).toBe(Number(big));
    const streamed = await (await opened(bridge, 'exact'))(progressCall(9, 'crlf'));
    const events = eventData(await streamed.text());
    expect(events).toHaveLength(2);
    expect(JSON.parse(events[1] ?? '').result.structuredContent.n).toBe(Number(big));
  });

  it('isolated: an answer with nothing before it is JSON; one after progress, the stream of both', async () => {
    const send = await opened(bridge, 'exact');
    const plain = await send(call(12, 'exact', '{}'));
    expect(plain.headers.get('content-type')).toBe('application/json');
    expect(plain.headers.get('mcp-session-id')).toMatch(/./);
    expect(JSON.parse(await plain.text())).toMatchObject({ id: 12, result: { structuredContent: {} } });
    const streamed = await send(progressCall(13, 'exact'));
    expect(streamed.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = eventData(await streamed.text()).map((data) => JSON.parse(data));
    expect(events.map((e) => e.method ?? e.id)).toEqual(['notifications/progress', 13]);
  });

  it('shared: the ids are renumbered on the way, and the rest goes as it came', async () => {
    const send = await session(bridge, 'shared');
    const request = call(10, 'exact', '{"k": 12345678901234567890123}');
    const answer = await send(request);
    const seen = /"text":("(?:[^"\\]|\\.)*")/.exec(answer)?.[1] ?? '""';
    const childId = /^\{"jsonrpc":"2.0","id":(\d+),/.exec(JSON.parse(seen))?.[1];
    expect(childId).toBeDefined();
    expect(JSON.parse(seen)).toBe(request.replace('"id":10,', `"id":${childId},`));
    expect(answer).toBe(
      `{"jsonrpc":"2.0", "id":10, "result":{"content":[{"type":"text","text":${seen}}], "structuredContent":{"n": ${big}}}}`,
    );
  });

  it('shared: a request with a progress token is rewritten deeper, so it is serialised again', async () => {
    const send = await opened(bridge, 'shared');
    const events = eventData(await (await send(progressCall(11, 'exact'))).text());
    expect(JSON.parse(events[0] ?? '')).toMatchObject({ params: { progressToken: 'p' } });
    const answer = JSON.parse(events[1] ?? '');
    expect(answer.id).toBe(11);
    const seen = JSON.parse(answer.result.content[0].text);
    expect(seen.params._meta.progressToken).toMatch(/^mux-/);
    expect(seen.id).not.toBe(11);
  });
  it("2026-07-28: the answer is the child's line, with the client's id and the revision's members added", async () => {
    const response = await modernCall(bridge, 'm-1');
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(text).toMatch(/^\{"jsonrpc":"2.0", "id":"m-1", "result":\{"content":\[/);
    expect(text).toContain(
      `"structuredContent":{"n": ${big}},"resultType":"complete","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"exact","version":"1.0.0"}}}}`,
    );
  });

  it('2026-07-28 with a progress token: the answer goes as an event after its progress, its data the same text', async () => {
    const response = await modernCall(bridge, 'm-2', { progressToken: 'p' });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const data = eventData(await response.text());
    expect(data).toHaveLength(2);
    expect(data[1]).toMatch(/^\{"jsonrpc":"2.0", "id":"m-2", "result":\{"content":\[/);
    expect(data[1]).toContain(`"structuredContent":{"n": ${big}},"resultType":"complete"`);
  });
});

describe("a child's stdout read as lines", () => {
  const read = (reader: LineReader, ...chunks: string[]) => {
    const lines: string[] = [];
    for (const chunk of chunks) reader.push(Buffer.from(chunk), (line) => lines.push(line));
    return lines;
  };

  it('joins a line written in pieces, splits several in one piece, and drops a CR before LF', () => {
    const reader = new LineReader(100);
    expect(read(reader, '{"a":', '1}\r\n{"b":2}\n{"c"', '', ':3}\n')).toEqual([
      '{"a":1}',
      '{"b":2}',
      '{"c":3}',
    ]);
    expect(read(reader, 'é'.repeat(3), '\n')).toEqual(['ééé']);
  });

  it('gives the lines before one past the bound, then refuses it, however it arrives', () => {
    const reader = new LineReader(10);
    const lines: string[] = [];
    const push = (chunk: string) => reader.push(Buffer.from(chunk), (line) => lines.push(line));
    expect(() => push('short\n0123456789X')).toThrow(LineTooLong);
    expect(lines).toEqual(['short']);
    expect(() => push('01234')).not.toThrow();
    expect(() => push('56789X')).toThrow(LineTooLong);
    expect(read(new LineReader(10), '0123456789\n')).toEqual(['0123456789']);
  });
});

describe('the text of a POSTed request, found again by its id', () => {
  const parsed = (text: string) => {
    const read = parseJson(new TextEncoder().encode(text));
    if (!read.ok) throw new Error('not JSON');
    return read.value;
  };
  const request = (id: number, extra = '') => `{"jsonrpc":"2.0","id":${id},"method":"ping"${extra}}`;

  it('is taken once, while its POST is held', () => {
    const posted = new PostedTexts();
    const release = posted.hold(parsed(request(1)), [1]);
    expect(posted.take(1)).toBe(request(1));
    expect(posted.take(1)).toBeUndefined();
    release();
    expect(posted.take(1)).toBeUndefined();
  });

  it('is not used when two POSTs share an id, until both are done', () => {
    const posted = new PostedTexts();
    const first = posted.hold(parsed(request(2)), [2]);
    const second = posted.hold(parsed(request(2, ',"params":{}')), [2]);
    first();
    const third = posted.hold(parsed(request(2, ',"params":{"x":1}')), [2]);
    expect(posted.take(2)).toBeUndefined();
    second();
    third();
    const fourth = posted.hold(parsed(request(2, ' ')), [2]);
    expect(posted.take(2)).toBe(request(2, ' '));
    fourth();
  });

  it('is not kept for a batch, nor for text in several lines', () => {
    const posted = new PostedTexts();
    posted.hold(parsed(`[${request(3)}]`), [3]);
    posted.hold(parsed(request(4).replace(',', ',\n')), [4]);
    expect(posted.take(3)).toBeUndefined();
    expect(posted.take(4)).toBeUndefined();
  });
});

describe('a 2025 answer made a 2026-07-28 one from its text', () => {
  const init = { serverInfo: { name: 's', version: '1' } };
  const result = fc.dictionary(
    fc.string().filter((key) => !['resultType', 'ttlMs', 'cacheScope', '_meta', '__proto__'].includes(key)),
    fc.jsonValue(),
    { maxKeys: 4 },
  );

  it('reads as complete() writes it, for any result, id and method', () => {
    fc.assert(
      fc.property(
        result,
        fc.oneof(fc.integer(), fc.string()),
        fc.constantFrom('tools/call', 'tools/list', 'prompts/get'),
        fc.constantFrom<number | undefined>(undefined, 1),
        (value, id, method, space) => {
          const request = { jsonrpc: '2.0', id, method, params: {} } as Request;
          const message = { result: value, jsonrpc: '2.0', id: 's-1' } as JSONRPCMessage;
          const line = JSON.stringify(message, null, space);
          const text = completeText(request, line, init);
          expect(JSON.parse(text ?? 'null')).toEqual(
            JSON.parse(JSON.stringify(complete(request, message, init))),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('leaves to complete() a result it would change inside, or a line with more than a message', () => {
    const request = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: {} } as Request;
    for (const line of [
      '{"jsonrpc":"2.0","id":"s-1","result":{"_meta":{"a":1}}}',
      '{"jsonrpc":"2.0","id":"s-1","result":{"resultType":"x"}}',
      '{"jsonrpc":"2.0","id":"s-1","result":{},"extra":1}',
      '{"jsonrpc":"2.0","id":"s-1","id":"s-2","result":{}}',
      '{"jsonrpc":"2.0","id":"s-1","result":[]}',
    ])
      expect(completeText(request, line, init), line).toBeUndefined();
    expect(
      completeText(request, '{"jsonrpc":"2.0","id":"s-1","error":{"code":-1,"message":"no"}}', init),
    ).toBe('{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"no"}}');
  });
});

describe("a POST's answer, as JSON when it comes first", () => {
  const encode = (text: string) => new TextEncoder().encode(text);
  /** An SSE response whose chunks come `afterMs` apart, the first after `afterMs` too. */
  const sse = (chunks: string[], afterMs: number) => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, afterMs));
        const chunk = chunks[sent++];
        if (chunk === undefined) controller.close();
        else controller.enqueue(encode(chunk));
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/event-stream', 'mcp-session-id': 's-1' } });
  };
  const answer = 'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n';

  it('is the event data alone, with the session id', async () => {
    const json = await jsonWhenAnsweredFirst(sse([answer], 0), () => true);
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(json.headers.get('mcp-session-id')).toBe('s-1');
    expect(await json.text()).toBe('{"jsonrpc":"2.0","id":1,"result":{}}');
  });

  it('stays the stream, every byte of it, when the first event is late, not a message, or not the answer', async () => {
    const progress = 'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}\n\n';
    const cases = [
      { response: sse([answer], 50), answeredFirst: true, chunks: [answer] },
      {
        response: sse([': keepalive\n\n', answer], 0),
        answeredFirst: true,
        chunks: [': keepalive\n\n', answer],
      },
      { response: sse([progress, answer], 0), answeredFirst: false, chunks: [progress, answer] },
    ];
    for (const { response, answeredFirst, chunks } of cases) {
      const kept = await jsonWhenAnsweredFirst(response, () => answeredFirst, 10);
      expect(kept.headers.get('content-type')).toBe('text/event-stream');
      expect(await kept.text()).toBe(chunks.join(''));
    }
  });

  it('reads an event with an id, or one not ended by a blank line, as no answer', () => {
    expect(answerData(encode('event: message\nid: 7\ndata: {}\n\n'))).toBeUndefined();
    expect(answerData(encode('event: message\ndata: {}\n'))).toBeUndefined();
    expect(new TextDecoder().decode(answerData(encode('event: message\ndata: {}\n\n')))).toBe('{}');
  });
});
