import { describe, expect, it } from 'vitest';
import { toWire } from '../../shared/protocol/refusal.ts';
import {
  decodeHeaderValue,
  encodeHeaderValue,
  type HttpFacts,
  modernHeaders,
  paramHeaderMismatch,
  paramHeadersOf,
  type Revision,
  revisionOf,
} from '../../shared/protocol/revision.ts';

/** A refused revision as the client gets it: its status and JSON-RPC answer. */
const wire = (revision: Revision) => {
  if (revision.era !== 'refused') return revision;
  const { status, body } = toWire(revision.refusal, revision.id);
  return { era: revision.era, status, response: body };
};

const meta = (version = '2026-07-28') => ({
  'io.modelcontextprotocol/protocolVersion': version,
  'io.modelcontextprotocol/clientCapabilities': {},
});
const call = (name: string, version?: string) => ({
  jsonrpc: '2.0',
  id: 7,
  method: 'tools/call',
  params: { name, arguments: {}, _meta: meta(version) },
});
const post = (body: unknown, headers: Partial<HttpFacts> = {}): HttpFacts => ({
  httpMethod: 'POST',
  body,
  ...headers,
});
const agreeing = { protocolVersion: '2026-07-28', mcpMethod: 'tools/call', mcpName: 'echo' };

describe('which revision a request speaks', () => {
  it('leaves session traffic (initialize, calls without an envelope, GET) to the 2025 path', () => {
    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
    };
    expect(revisionOf(post(initialize)).era).toBe('legacy');
    expect(
      revisionOf(post({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, { protocolVersion: '2025-11-25' }))
        .era,
    ).toBe('legacy');
    expect(revisionOf({ httpMethod: 'GET', protocolVersion: '2026-07-28' }).era).toBe('legacy');
  });

  it('takes a 2026-07-28 request whose headers agree with its body, with its capabilities', () => {
    const revision = revisionOf(post(call('echo'), agreeing));
    expect(revision).toMatchObject({ era: 'modern', revision: '2026-07-28', clientCapabilities: {} });
  });

  it.each([
    ['a different tool in Mcp-Name', { ...agreeing, mcpName: 'delete-everything' }],
    ['no Mcp-Name', { ...agreeing, mcpName: undefined }],
    ['no Mcp-Method', { ...agreeing, mcpMethod: undefined }],
    ['another method in Mcp-Method', { ...agreeing, mcpMethod: 'tools/list' }],
    ['no MCP-Protocol-Version', { ...agreeing, protocolVersion: undefined }],
    ['a 2025 MCP-Protocol-Version', { ...agreeing, protocolVersion: '2025-11-25' }],
    ['a broken base64 Mcp-Name', { ...agreeing, mcpName: '=?base64?***?=' }],
  ])('refuses %s with -32020 and 400, naming the request', (_, headers) => {
    const revision = wire(revisionOf(post(call('echo'), headers)));
    expect(revision).toMatchObject({
      era: 'refused',
      status: 400,
      response: { id: 7, error: { code: -32020 } },
    });
  });

  it('refuses a version it does not serve with -32022, saying which it does', () => {
    const revision = wire(
      revisionOf(post(call('echo', '2099-01-01'), { ...agreeing, protocolVersion: '2099-01-01' })),
    );
    expect(revision).toMatchObject({
      era: 'refused',
      status: 400,
      response: { error: { code: -32022, data: { supported: ['2026-07-28'], requested: '2099-01-01' } } },
    });
  });

  it('refuses a modern header on a body without an envelope (-32602), rather than guessing', () => {
    const body = { jsonrpc: '2.0', id: 3, method: 'tools/list' };
    const revision = wire(revisionOf(post(body, { protocolVersion: '2026-07-28', mcpMethod: 'tools/list' })));
    expect(revision).toMatchObject({ era: 'refused', status: 400, response: { error: { code: -32602 } } });
  });

  it('encodes names that are not plain ASCII, and reads them back', () => {
    for (const name of ['echo', 'file:///tmp/a b.txt', 'héllo', ' padded ', '日本', '=?base64?x?=']) {
      const encoded = encodeHeaderValue(name);
      expect(encoded).toMatch(/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/);
      expect(decodeHeaderValue(encoded)).toBe(name);
      expect(revisionOf(post(call(name), { ...agreeing, mcpName: encoded })).era).toBe('modern');
    }
  });

  it('mirrors a task id in Mcp-Name, as SDK servers require', () => {
    const get = { jsonrpc: '2.0', id: 2, method: 'tasks/get', params: { taskId: 't-1', _meta: meta() } };
    expect(modernHeaders(get as never, '2026-07-28')['mcp-name']).toBe('t-1');
    const lying = { protocolVersion: '2026-07-28', mcpMethod: 'tasks/get', mcpName: 't-2' };
    expect(wire(revisionOf(post(get, lying)))).toMatchObject({ era: 'refused', status: 400 });
  });

  it('computes forwarded headers from the body', () => {
    expect(modernHeaders(call('héllo') as never, '2026-07-28')).toEqual({
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': '=?base64?aMOpbGxv?=',
    });
  });

  it('reads base64 strictly, and takes a value without both sentinels as it is', () => {
    expect(decodeHeaderValue('=?base64?SGVsbG8=?=')).toBe('Hello');
    expect(decodeHeaderValue('=?base64?SGVsbG8?=')).toBeUndefined();
    expect(decodeHeaderValue('=?base64?SGVs!!!bG8=?=')).toBeUndefined();
    expect(decodeHeaderValue('=?base64?SGVsbG8=')).toBe('=?base64?SGVsbG8=');
    expect(decodeHeaderValue('SGVsbG8=')).toBe('SGVsbG8=');
  });
});

describe('Mcp-Param headers (SEP-2243)', () => {
  const declared = paramHeadersOf({
    tools: [
      {
        name: 'route',
        inputSchema: { properties: { region: { type: 'string', 'x-mcp-header': 'Region' }, n: {} } },
      },
      { name: 'plain', inputSchema: { properties: { region: { type: 'string' } } } },
    ],
  });
  const headers = (values: Record<string, string>) => (name: string) => values[name];

  it('knows which tools mark which arguments', () => {
    expect([...declared]).toEqual([['route', { region: 'Region' }]]);
  });

  it('accepts agreeing headers, plain or encoded, and refuses missing, broken or other values', () => {
    const route = declared.get('route');
    expect(
      paramHeaderMismatch(route, { region: 'eu' }, headers({ 'mcp-param-region': 'eu' })),
    ).toBeUndefined();
    expect(
      paramHeaderMismatch(route, { region: 'é' }, headers({ 'mcp-param-region': '=?base64?w6k=?=' })),
    ).toBeUndefined();
    expect(paramHeaderMismatch(route, { region: 'eu' }, headers({}))).toMatch(/absent/);
    expect(paramHeaderMismatch(route, { region: 'eu' }, headers({ 'mcp-param-region': 'us' }))).toMatch(
      /disagrees/,
    );
    expect(
      paramHeaderMismatch(route, { region: 'x' }, headers({ 'mcp-param-region': '=?base64?e?=' })),
    ).toMatch(/invalid/);
    expect(paramHeaderMismatch(declared.get('plain'), { region: 'eu' }, headers({}))).toBeUndefined();
  });
});
