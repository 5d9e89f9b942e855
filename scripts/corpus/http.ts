import { type Case, call } from './case.ts';

/** HTTP around the message: revision headers that disagree, sessions, content types, methods. */

export function headerMismatch(): Case[] {
  const pairs: [string, string][] = [
    ['tools/call', 'echo'],
    ['ping', 'echo'],
    ['tools/list', ''],
    ['tools/call', 'get-env'],
    ['TOOLS/CALL', 'ECHO'],
    ['tools/call', 'echo\r\nX-Injected: 1'.replace(/\r\n/g, ' ')],
    ['tools/call', '=?utf-8?b?ZWNobw==?='],
    ['tools/call', 'e'.repeat(8000)],
  ];
  return pairs.map(([method, name], i) => ({
    family: 'Mcp-Method/Mcp-Name disagreeing with the body',
    name: `headers ${i}: ${method} ${name.slice(0, 20)}`,
    headers: { 'mcp-method': method, 'mcp-name': name, 'mcp-protocol-version': '2026-07-28' },
    body: call('get-env'),
  }));
}

export function sessions(): Case[] {
  const ids = [
    '',
    ' ',
    'x'.repeat(10_000),
    'rec.2',
    'rec.1\u0000',
    '../../',
    '🦄',
    'test.00000000-0000-0000-0000-000000000000',
    'a,b',
    'null',
  ];
  return ids.flatMap((id, i) => {
    const safe = /^[\x20-\x7e]*$/.test(id) ? id : encodeURIComponent(id);
    return ['POST', 'GET', 'DELETE'].map((method) => ({
      family: 'bad session ids',
      name: `${method} session ${i}: ${JSON.stringify(safe).slice(0, 24)}`,
      method,
      headers: { 'mcp-session-id': safe },
      ...(method === 'POST' ? { body: call('echo') } : {}),
    }));
  });
}

export function contentTypes(): Case[] {
  const types = [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/json; charset=utf-16',
    'application/jsonp',
    'application/xml',
    '',
    'application/json, text/html',
    'APPLICATION/JSON',
    '*/*',
  ];
  return types.flatMap((type, i): Case[] => [
    {
      family: 'content types',
      name: `type ${i}: ${type || '(empty)'}`,
      headers: { 'content-type': type },
      body: call('get-env'),
    },
    {
      family: 'accept headers',
      name: `accept ${i}: ${type || '(empty)'}`,
      headers: { accept: type },
      body: call('echo'),
    },
  ]);
}

export function httpMethods(): Case[] {
  return ['PUT', 'PATCH', 'HEAD', 'TRACE', 'CONNECT-LIKE', 'OPTIONS'].map((method) => ({
    family: 'HTTP methods',
    name: method,
    method: method === 'CONNECT-LIKE' ? 'PROPFIND' : method,
    ...(method === 'PUT' || method === 'PATCH' ? { body: call('get-env') } : {}),
  }));
}
