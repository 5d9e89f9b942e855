import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import {
  isFailure,
  kindOf,
  listedNames,
  maxNestingDepth,
  nestedTooDeep,
  progressTokenOf,
  resourceIdOf,
  validMessage,
  validSessionId,
} from '../../shared/protocol/jsonrpc.ts';
import { toWire } from '../../shared/protocol/refusal.ts';

describe('jsonrpc', () => {
  it('classifies the four kinds of message', () => {
    expect(kindOf({ jsonrpc: '2.0', id: 1, method: 'ping' })).toBe('request');
    expect(kindOf({ jsonrpc: '2.0', method: 'notifications/initialized' })).toBe('notification');
    expect(kindOf({ jsonrpc: '2.0', id: 1, result: {} })).toBe('response');
    expect(kindOf({ jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'nope' } })).toBe('error');
  });

  it("validates a message as the SDK's union of the four kinds does, valid or not", () => {
    const values: unknown[] = [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {} } },
      { jsonrpc: '2.0', id: 'a', method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } },
      { jsonrpc: '2.0', id: 1, result: { content: [], _meta: { x: 1 } } },
      { jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'nope', data: [1] } },
      { jsonrpc: '2.0', error: { code: -32700, message: 'parse error' } },
      { jsonrpc: '2.0', id: 1, method: 'ping', result: {} },
      { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'm' } },
      { jsonrpc: '2.0', id: null, method: 'ping' },
      { jsonrpc: '2.0', id: 1.5, method: 'ping' },
      { jsonrpc: '2.0', id: 1, method: 7 },
      { jsonrpc: '1.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', id: 1, error: { code: 'x', message: 'm' } },
      { jsonrpc: '2.0', id: 1 },
      { jsonrpc: '2.0', method: 'x', extra: true },
      { id: 1, result: {} },
      [{ jsonrpc: '2.0', id: 1, method: 'ping' }],
      null,
      'ping',
      42,
    ];
    for (const value of values) {
      const sdk = JSONRPCMessageSchema.safeParse(value);
      expect(validMessage(value), JSON.stringify(value)).toEqual(sdk.success ? sdk.data : undefined);
    }
  });

  it('reads the tool, prompt or resource a request is about', () => {
    expect(resourceIdOf({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo' } })).toBe(
      'echo',
    );
    expect(resourceIdOf({ jsonrpc: '2.0', id: 1, method: 'prompts/get', params: { name: 'p' } })).toBe('p');
    expect(
      resourceIdOf({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'test://a' } }),
    ).toBe('test://a');
    expect(
      resourceIdOf({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 7 } }),
    ).toBeUndefined();
  });

  it('finds progress tokens of either type', () => {
    const request = (token: string | number) => ({
      jsonrpc: '2.0' as const,
      id: 1,
      method: 'tools/call',
      params: { name: 'x', _meta: { progressToken: token } },
    });
    expect(progressTokenOf(request('t'))).toBe('t');
    expect(progressTokenOf(request(3))).toBe(3);
    expect(progressTokenOf(request({} as unknown as string))).toBeUndefined();
  });

  it('counts isError tool results and JSON-RPC errors as failures', () => {
    expect(isFailure({ jsonrpc: '2.0', id: 1, result: { content: [], isError: true } })).toBe(true);
    expect(isFailure({ jsonrpc: '2.0', id: 1, error: { code: -32602, message: 'bad' } })).toBe(true);
    expect(isFailure({ jsonrpc: '2.0', id: 1, result: { content: [] } })).toBe(false);
    // The edge asks it of an answer it parsed but did not validate: no kind at all is no failure, not a throw.
    expect(isFailure({ jsonrpc: '2.0', id: 1 } as never)).toBe(false);
  });

  it('lists the names a list result carries, ignoring malformed entries', () => {
    expect(listedNames('tools/list', { tools: [{ name: 'a' }, { name: 2 }, null, { name: 'b' }] })).toEqual([
      'a',
      'b',
    ]);
    expect(listedNames('resources/list', { resources: [{ uri: 'x://1', name: 'one' }] })).toEqual(['x://1']);
    expect(listedNames('ping', {})).toEqual([]);
  });
});

describe('errors', () => {
  it('maps each refusal to one status and a JSON-RPC error body', () => {
    expect(toWire({ kind: 'body_too_large', limit: 10 }).status).toBe(413);
    expect(toWire({ kind: 'unknown_session' }).status).toBe(404);
    expect(toWire({ kind: 'missing_session' }).status).toBe(400);
    const busy = toWire({ kind: 'too_many_sessions', retryAfterSeconds: 5 });
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('5');
    expect(busy.body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000 } });
  });
});

describe('bounds on untrusted input', () => {
  const nested = (depth: number) => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
    return value;
  };

  it('measures nesting without recursion, up to any depth', () => {
    expect(nestedTooDeep(nested(maxNestingDepth))).toBe(false);
    expect(nestedTooDeep(nested(maxNestingDepth + 1))).toBe(true);
    expect(nestedTooDeep(nested(200_000))).toBe(true);
    expect(nestedTooDeep({ a: [1, 2, { b: 'x' }], c: null })).toBe(false);
  });

  it('accepts only visible-ASCII session ids of sane length', () => {
    for (const id of ['a', 'bridge-0.0f8fad5b-d9cb-469f-a165-70867728950e', '~'.repeat(256)])
      expect(validSessionId(id)).toBe(true);
    for (const id of ['', ' ', 'a b', 'x'.repeat(257), 'é', 'a\u0000'])
      expect(validSessionId(id)).toBe(false);
  });
});
