import { type Case, call, valid } from './case.ts';

/** Bodies no parser may choke on: broken, deep, huge, mistyped or oddly shaped JSON-RPC. */

export function truncated(): Case[] {
  const cuts = [1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, valid.length - 2, valid.length - 1];
  return cuts.map((n) => ({ family: 'truncated JSON', name: `first ${n} bytes`, body: valid.slice(0, n) }));
}

export function malformed(): Case[] {
  const bodies = [
    '',
    ' ',
    '\n',
    'null',
    'true',
    '0',
    '"string"',
    '[]',
    '{}',
    '{',
    '}',
    '[',
    'undefined',
    'NaN',
    "{'jsonrpc':'2.0'}",
    '{"jsonrpc":"2.0",}',
    '{"jsonrpc":"2.0" "id":1}',
    '{jsonrpc:"2.0"}',
    '{"jsonrpc":"2.0","id":1,"method":"ping"}garbage',
    '{"a":1}{"b":2}',
    '\u0000',
    '<?xml version="1.0"?>',
    '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":1e999999}}',
    '{"jsonrpc":"2.0","id":01,"method":"ping"}',
    '{"jsonrpc":"2.0","id":1,"method":"ping",/*c*/}',
    '\uFEFF{"jsonrpc":"2.0","id":1,"method":"ping"}',
  ];
  const bytes = [
    Buffer.from([0xff, 0xfe, 0x00]),
    Buffer.from([0xc3, 0x28]),
    Buffer.concat([
      Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ech'),
      Buffer.from([0xe2, 0x82]),
      Buffer.from('o"}}'),
    ]),
    Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping"}', 'utf16le'),
  ];
  return [
    ...bodies.map((body, i) => ({
      family: 'malformed JSON',
      name: `text ${i}: ${JSON.stringify(body).slice(0, 40)}`,
      body,
    })),
    ...bytes.map((b, i) => ({
      family: 'malformed JSON',
      name: `bytes ${i}`,
      bodyBase64: b.toString('base64'),
    })),
  ];
}

export function duplicateKeys(): Case[] {
  const variants = [
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"get-env","arguments":{}}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get-env","name":"echo","arguments":{}}}',
    '{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"get-env"}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping","params":{"name":"get-env"}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"},"params":{"name":"get-env"}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get-env"},"params":{"name":"echo"}}',
    '{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"get-env"}}',
    '{"jsonrpc":"1.0","jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get-env"}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e\\u0063ho","name":"get\\u002denv"}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/\\u0063all","params":{"name":"get-env"}}',
  ];
  return variants.map((body, i) => ({ family: 'duplicate keys', name: `variant ${i}`, body }));
}

export function nesting(): Case[] {
  const prefix = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"x":';
  return [10, 100, 1000, 10_000, 100_000].flatMap((depth) => [
    {
      family: 'deep nesting',
      name: `array depth ${depth}`,
      bodyRepeat: { prefix, text: '[', times: depth, suffix: `${']'.repeat(depth)}}}}` },
    },
    {
      family: 'deep nesting',
      name: `object depth ${depth}`,
      bodyRepeat: { prefix, text: '{"a":', times: depth, suffix: `1${'}'.repeat(depth)}}}}` },
    },
  ]);
}

export function values(): Case[] {
  const raw = [
    '"\\ud800"',
    '"\\udfff\\ud800"',
    '"\\u0000"',
    '-0',
    '1e-400',
    '123456789012345678901234567890',
    '1.7976931348623157e309',
    '{"__proto__":{"admin":true}}',
    '{"constructor":{"prototype":{"x":1}}}',
    '{"toString":1}',
    `"${'x'.repeat(100_000)}"`,
  ];
  const named = [
    ['name of 1 KiB', 'e'.repeat(1024)],
    ['name of 100 KiB', 'e'.repeat(102_400)],
    ['name __proto__', '__proto__'],
    ['name constructor', 'constructor'],
    ['name with slash', 'echo/../get-env'],
    ['name with %', 'get%2Denv'],
  ];
  return [
    ...raw.map((value, i) => ({
      family: 'odd values',
      name: `argument ${i}: ${value.slice(0, 30)}`,
      body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"x":${value}}}}`,
    })),
    ...raw.slice(0, 7).map((value, i) => ({
      family: 'odd values',
      name: `name ${i}: ${value.slice(0, 30)}`,
      body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":${value},"arguments":{}}}`,
    })),
    ...named.map(([label, name]) => ({ family: 'odd values', name: label as string, body: call(name) })),
    {
      family: 'odd values',
      name: '__proto__ params',
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"__proto__":{"name":"get-env"}}}',
    },
    {
      family: 'odd values',
      name: '__proto__ message',
      body: '{"__proto__":{"method":"tools/call"},"jsonrpc":"2.0","id":1,"method":"ping"}',
    },
  ];
}

export function large(): Case[] {
  return [1, 5, 10].map((mib) => ({
    family: 'large bodies',
    name: `${mib} MiB argument`,
    bodyRepeat: {
      prefix: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"x":"',
      text: 'a'.repeat(1024),
      times: mib * 1024,
      suffix: '"}}}',
    },
  }));
}

export function batches(): Case[] {
  const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
  const denied = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get-env', arguments: {} } };
  return [[], [ping], [ping, ping], [ping, denied], [denied, denied], Array(1000).fill(ping)].map(
    (batch, i) => ({
      family: 'batches',
      name: `batch ${i} of ${batch.length}`,
      body: JSON.stringify(batch),
    }),
  );
}

export function wrongTypes(): Case[] {
  const values: [string, unknown][] = [
    ['null', null],
    ['number', 1],
    ['negative', -1],
    ['float', 1.5],
    ['bool', true],
    ['string', 'x'],
    ['long string', 'x'.repeat(5000)],
    ['array', []],
    ['object', {}],
  ];
  const base = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {} } };
  const fields: [string, (v: unknown) => unknown][] = [
    ['jsonrpc', (v) => ({ ...base, jsonrpc: v })],
    ['id', (v) => ({ ...base, id: v })],
    ['method', (v) => ({ ...base, method: v })],
    ['params', (v) => ({ ...base, params: v })],
    ['params.name', (v) => ({ ...base, params: { ...base.params, name: v } })],
    ['params.arguments', (v) => ({ ...base, params: { ...base.params, arguments: v } })],
    ['params._meta', (v) => ({ ...base, params: { ...base.params, _meta: v } })],
  ];
  return fields.flatMap(([field, make]) =>
    values.map(([type, value]) => ({
      family: 'wrong types',
      name: `${field} as ${type}`,
      body: JSON.stringify(make(value)),
    })),
  );
}

export function ids(): Case[] {
  const values: unknown[] = [
    0,
    -1,
    2 ** 53,
    2 ** 53 + 1,
    1e308,
    '',
    'x'.repeat(10_000),
    '🦄',
    '\u0000',
    '__proto__',
    'constructor',
  ];
  return values.map((id, i) => ({
    family: 'ids',
    name: `id ${i}: ${JSON.stringify(id).slice(0, 30)}`,
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' }),
  }));
}

export function methods(): Case[] {
  const unknown = [
    'tools/delete',
    '',
    ' ',
    'x'.repeat(300),
    '../../etc/passwd',
    'rpc.discover',
    '__proto__',
    'tools',
    'tools/',
    '/tools/call',
    'tools/call/',
    'tools//call',
  ];
  const cases = [
    'Tools/Call',
    'TOOLS/CALL',
    'tools/Call',
    ' tools/call',
    'tools/call ',
    'tools/call\u0000',
    'tools/call\u200b',
    'tools\\/call',
    'ｔｏｏｌｓ/call',
    'tools/cаll',
  ];
  return [
    ...unknown.map((method, i) => ({
      family: 'unknown methods',
      name: `method ${i}: ${JSON.stringify(method).slice(0, 30)}`,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { name: 'get-env', arguments: {} } }),
    })),
    ...cases.map((method, i) => ({
      family: 'method spelling',
      name: `method ${i}: ${JSON.stringify(method)}`,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { name: 'get-env', arguments: {} } }),
    })),
  ];
}

export function paramShapes(): Case[] {
  const shapes: unknown[] = [
    { jsonrpc: '2.0', id: 1, method: 'tools/call' },
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: {} },
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { arguments: {} } },
    { jsonrpc: '2.0', method: 'tools/call', params: { name: 'get-env' } },
    { jsonrpc: '2.0', id: 1, result: { content: [] } },
    { jsonrpc: '2.0', id: 1, error: { code: 1, message: 'x' } },
    {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'get-env', _meta: { progressToken: {} } },
    },
    { jsonrpc: '2.0', id: 1, method: 'notifications/cancelled', params: { requestId: 'x'.repeat(5000) } },
    { jsonrpc: '2.0', id: 1, method: 'prompts/get', params: { name: 'get-env' } },
    { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'file:///etc/passwd' } },
    { jsonrpc: '2.0', id: 1, method: 'initialize', params: 'x' },
    { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { cursor: { $gt: '' } } },
  ];
  return shapes.map((shape, i) => ({
    family: 'message shapes',
    name: `shape ${i}`,
    body: JSON.stringify(shape),
  }));
}
