import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../shared/security/digest.ts';
import { verify } from '../../shared/security/signing.ts';
import { apiKeyKey } from '../../shared/storage/kv.ts';
import {
  bearer,
  call,
  jwt,
  mcp,
  open,
  origin,
  putApiKey,
  putDocument,
  recorded,
  recordingEnv,
  resetUpstream,
  upstream,
} from './helpers.ts';

const secret = 'workerd-test-secret-0123456789abcdef';
const openshift = (path: 'json' | 'sse') => ({
  version: 1,
  name: 'openshift',
  upstream: { url: `${upstream}/${path}/openshift/mcp` },
  access: { groups: ['viewers'] },
  policy: {
    tools: { allow: ['pods_list', 'pods_log', 'echo'], deny: ['get-env'] },
    grants: [{ groups: ['operators'], tools: { allow: ['pods_delete'] } }],
    overrides: { pods_log: { name: 'read_pod_log' } },
  },
  audit: { arguments: 'full' },
});
const list = { jsonrpc: '2.0', id: 3, method: 'tools/list' };
const callTool = (name: string, args: unknown = { x: 1 }) => ({
  jsonrpc: '2.0',
  id: 4,
  method: 'tools/call',
  params: { name, arguments: args },
});

beforeEach(async () => {
  await resetUpstream();
  await putDocument('openshift', openshift('json'));
  await putApiKey('viewer-key', { principal: 'alice', groups: ['viewers'] });
  await putApiKey('operator-key', { principal: 'bob', groups: ['viewers', 'operators'] });
  await putApiKey('revoked-key', { principal: 'mallory', groups: ['viewers'], revoked: true });
  await putApiKey('expired-key', {
    principal: 'old',
    groups: ['viewers'],
    expiresAt: '2020-01-01T00:00:00Z',
  });
});

describe('authentication', () => {
  it('refuses a request without a token with 401 and the resource metadata, so that a client signs in', async () => {
    const response = await call(mcp('openshift', list, {}));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/openshift/mcp"`,
    );
  });

  it.each([
    ['an unknown key', bearer('nope'), 'key_unknown', /not one this gateway issued/],
    ['a revoked key', bearer('revoked-key'), 'key_revoked', /was revoked/],
    ['an expired key', bearer('expired-key'), 'key_expired', /has expired/],
  ])('refuses %s with 403 saying why, and no sign-in to start', async (_, headers, reason, message) => {
    const response = await call(mcp('openshift', list, headers));
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toBeNull();
    const { error } = (await response.json()) as { error: { message: string; data: { reason: string } } };
    expect(error.message).toMatch(message);
    expect(error.data.reason).toBe(reason);
    // Words that make mcp-remote and the Inspector try OAuth or another transport instead.
    expect(error.message).not.toMatch(/Unauthorized|404|Not Found|405/i);
  });

  it('keeps a verified key for DOCUMENT_CACHE_SECONDS: a revocation reaches the isolate within that bound', async () => {
    const e = { ...env, DOCUMENT_CACHE_SECONDS: '1' };
    expect((await call(mcp('openshift', list, bearer('viewer-key')), e)).status).toBe(200);
    // Revoked in KV behind this isolate's back (mcpgw keys revoke, from another machine).
    const record = { principal: 'alice', groups: ['viewers'], revoked: true };
    await env.GATEWAY_KV.put(apiKeyKey(await sha256Hex('viewer-key')), JSON.stringify(record));
    const started = Date.now();
    const within = await call(mcp('openshift', list, bearer('viewer-key')), e);
    if (Date.now() - started < 900) expect(within.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const after = await call(mcp('openshift', list, bearer('viewer-key')), e);
    expect(after.status).toBe(403);
    expect(await after.text()).toContain('this API key was revoked');
  });

  it('answers a header that is not "Bearer <token>" with 400 naming the form', async () => {
    const response = await call(mcp('openshift', list, { authorization: 'Basic abc' }));
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('Bearer <API key or token>');
  });

  it('refuses OIDC tokens expired, not yet valid, for another resource or issuer, of an unknown kid, oversized, badly signed, or alg none/HS256', async () => {
    const claims = { sub: 'carol', groups: ['viewers'] };
    const bad = [
      await jwt(claims, { expiresIn: '-10m' }),
      await jwt(claims, { audience: `${origin}/other/mcp` }),
      await jwt(claims, { issuer: 'https://evil.test/' }),
      await jwt(claims, { key: 'other' }),
      await jwt(claims, { notBefore: '10m' }),
      await jwt(claims, { kid: 'unknown-kid' }),
      await jwt({ ...claims, padding: 'x'.repeat(9000) }),
    ];
    const [header, payload] = (await jwt(claims)).split('.');
    const none = `${btoa(JSON.stringify({ alg: 'none', typ: 'JWT' })).replace(/=+$/, '')}.${payload}.`;
    const hsHeader = btoa(JSON.stringify({ alg: 'HS256', kid: 'test-key' }))
      .replace(/=+$/, '')
      .replace(/\+/g, '-')
      .replace(/\//g, '_');
    bad.push(none, `${hsHeader}.${payload}.c2lnbmF0dXJl`, `${header}.${payload}.AAAA`);
    let accepted = 0;
    for (const token of bad) {
      const response = await call(mcp('openshift', list, bearer(token)));
      if (response.status !== 401) accepted += 1;
    }
    expect(accepted).toBe(0);
    expect((await recorded()).length).toBe(0);
  });

  it('accepts a valid key and a valid OIDC token, and never forwards the token', async () => {
    expect((await call(mcp('openshift', list, bearer('viewer-key')))).status).toBe(200);
    // An admin's own key may hold a dot: it is still a key, not a broken JWT.
    await putApiKey('team.key-2026', { principal: 'dora', groups: ['viewers'] });
    expect((await call(mcp('openshift', list, bearer('team.key-2026')))).status).toBe(200);
    const token = await jwt({ sub: 'carol', groups: ['viewers'] });
    expect((await call(mcp('openshift', list, bearer(token)))).status).toBe(200);
    for (const request of await recorded()) expect(request.headers.authorization).toBeUndefined();
  });

  it('tells a caller without valid credentials nothing about which servers exist', async () => {
    const missing = await call(mcp('no-such-server', list));
    const existing = await call(mcp('openshift', list));
    expect([missing.status, existing.status]).toEqual([401, 401]);
    expect(await missing.json()).toEqual(await existing.json());
    const guessed = await call(mcp('no-such-server', list, bearer('nope')));
    const known = await call(mcp('openshift', list, bearer('nope')));
    expect([guessed.status, known.status]).toEqual([403, 403]);
    expect(await guessed.json()).toEqual(await known.json());
  });

  it('answers 403 to a valid principal the document does not admit', async () => {
    await putApiKey('guest-key', { principal: 'guest', groups: ['guests'] });
    expect((await call(mcp('openshift', list, bearer('guest-key')))).status).toBe(403);
  });
});

describe('policy at the edge', () => {
  it('refuses a denied tool itself: a JSON-RPC error the model can read, and 0 bytes to the bridge', async () => {
    const response = await call(mcp('openshift', callTool('get-env'), bearer('viewer-key')));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { id: number; error: { code: number; message: string } };
    expect(body.id).toBe(4);
    expect(body.error.code).toBe(-32005);
    expect(body.error.message).toContain('Tool "get-env" is not permitted for you on MCP server "openshift"');
    expect(await recorded()).toEqual([]);
  });

  it('lets a grant add a tool for its group only', async () => {
    const viewer = await call(mcp('openshift', callTool('pods_delete'), bearer('viewer-key')));
    expect(await viewer.text()).toContain('-32005');
    const operator = await call(mcp('openshift', callTool('pods_delete'), bearer('operator-key')));
    expect(await operator.text()).toContain('called pods_delete');
  });

  it('forwards an allowed call under its real name, re-serialised, signed, with the principal', async () => {
    const sent =
      '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","name":"read_pod_log","arguments":{}}}';
    const response = await call(mcp('openshift', sent, bearer('viewer-key')));
    expect(await response.text()).toContain('called pods_log');
    const [forwarded] = await recorded();
    expect(forwarded?.body).toBe(
      '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"pods_log","arguments":{}}}',
    );
    const url = new URL(`${upstream}/json/openshift/mcp`);
    const verdict = await verify(
      secret,
      {
        method: 'POST',
        path: url.pathname,
        sessionId: undefined,
        body: new TextEncoder().encode(forwarded?.body),
      },
      (name) => forwarded?.headers[name],
      { nowSeconds: Date.now() / 1000, seen: () => false },
    );
    expect(verdict).toEqual({
      ok: true,
      principal: { subject: 'alice', groups: ['viewers'], method: 'api_key' },
    });
  });

  it.each(['json', 'sse'] as const)('filters tools/list answered as %s, with renames', async (path) => {
    await putDocument('openshift', openshift(path));
    const response = await call(mcp('openshift', list, bearer('viewer-key')));
    const text = await response.text();
    const data =
      path === 'json'
        ? text
        : (
            text
              .split('\n')
              .filter((l) => l.startsWith('data: '))
              .at(-1) ?? ''
          ).slice(6);
    const names = (JSON.parse(data) as { result: { tools: { name: string }[] } }).result.tools.map(
      (t) => t.name,
    );
    expect(names).toEqual(['echo', 'pods_list', 'read_pod_log']);
    if (path === 'sse') expect(text).toContain('"data":"working"');
  });

  it.each([
    ['an unknown method', { jsonrpc: '2.0', id: 5, method: 'tools/destroy' }, -32601],
    [
      'a method in other case',
      { jsonrpc: '2.0', id: 5, method: 'Tools/Call', params: { name: 'get-env' } },
      -32601,
    ],
    ['a call without a name', { jsonrpc: '2.0', id: 5, method: 'tools/call', params: {} }, -32602],
  ])('answers %s itself, sending nothing onward', async (_, message, code) => {
    const response = await call(mcp('openshift', message, bearer('viewer-key')));
    expect(((await response.json()) as { error: { code: number } }).error.code).toBe(code);
    expect(await recorded()).toEqual([]);
  });

  it.each([
    ['invalid JSON', '{"jsonrpc":', 400],
    ['a batch', JSON.stringify([list, list]), 400],
    ['not JSON-RPC', JSON.stringify({ hello: 1 }), 400],
    ['an oversized body', JSON.stringify({ ...list, params: { pad: 'x'.repeat(5 * 1024 * 1024) } }), 413],
  ])('refuses %s with a clear HTTP error', async (_, body, status) => {
    const response = await call(mcp('openshift', body, bearer('viewer-key')));
    expect(response.status).toBe(status);
    expect(((await response.json()) as { error: { message: string } }).error.message.length).toBeGreaterThan(
      10,
    );
    expect(await recorded()).toEqual([]);
  });
});

describe('a JSON answer that streams', () => {
  it('is relayed message by message while the upstream keeps it open, each message filtered (a 2026-07-28 listen)', async () => {
    await putDocument('listener', {
      version: 1,
      name: 'listener',
      upstream: { url: `${upstream}/ndjson/listener/mcp` },
      access: { groups: ['viewers'] },
      policy: { tools: { allow: ['pods_list'] }, resources: { allow: ['demo://docs/readme.md'] } },
    });
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const resourceSubscriptions = ['demo://docs/readme.md', 'demo://docs/secret.md'];
    const listen = {
      jsonrpc: '2.0',
      id: 4,
      method: 'subscriptions/listen',
      params: { notifications: { resourceSubscriptions }, _meta: meta },
    };
    const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'subscriptions/listen' };
    const response = await open(mcp('listener', listen, { ...headers, ...bearer('viewer-key') }));
    expect(response.headers.get('content-type')).toBe('application/json');
    const reader = (response.body as ReadableStream<Uint8Array>)
      .pipeThrough(new TextDecoderStream())
      .getReader();
    let text = '';
    // The readable update arrives while the upstream still holds the stream open (for 20 s).
    while (!text.includes('readme.md')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    await reader.cancel();
    expect(JSON.parse(text.split('\n')[0] ?? '')).toMatchObject({ id: 4 });
    expect(text).toContain('"uri": "demo://docs/readme.md"');
    expect(text).not.toContain('secret.md');
  });
});

describe('documents fail closed', () => {
  it('answers a server without a document with 404 naming it', async () => {
    const response = await call(mcp('nothing-here', list, bearer('viewer-key')));
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { message: string } }).error.message).toBe(
      'No MCP server named "nothing-here" is served here',
    );
  });

  it.each([
    ['corrupt JSON', '{"version":1,'],
    ['an unknown version', JSON.stringify({ ...openshift('json'), version: 2 })],
    ['an unknown field', JSON.stringify({ ...openshift('json'), allowEverything: true })],
  ])('refuses a document with %s (503), serving nothing, while other servers go on', async (_, text) => {
    await putDocument('healthy', { ...openshift('json'), name: 'healthy' });
    await putDocument('openshift', text);
    const other = await call(mcp('healthy', list, bearer('viewer-key')));
    expect(other.status).toBe(200);
    await resetUpstream();
    const response = await call(mcp('openshift', list, bearer('viewer-key')));
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain(
      'The server document for "openshift" is invalid',
    );
    expect(await recorded()).toEqual([]);
  });
});

describe('metering', () => {
  it('writes one Analytics Engine point per message: allowed, denied and failed', async () => {
    const { env, points } = recordingEnv();
    await call(mcp('openshift', callTool('echo'), bearer('viewer-key')), env);
    await call(mcp('openshift', callTool('get-env'), bearer('viewer-key')), env);
    await putDocument('openshift', { ...openshift('json'), policy: { tools: { allow: ['*'] } } });
    await call(mcp('openshift', callTool('fail'), bearer('viewer-key')), env);
    const rows = points.map((p) => p.blobs?.slice(0, 6));
    expect(rows).toEqual([
      ['openshift', 'tools/call', 'echo', 'allowed', 'alice', 'success'],
      ['openshift', 'tools/call', 'get-env', 'denied', 'alice', 'refused'],
      ['openshift', 'tools/call', 'fail', 'allowed', 'alice', 'error'],
    ]);
    expect(points[0]?.indexes).toEqual(['openshift']);
    expect(points[0]?.doubles?.[1]).toBeGreaterThan(0);
  });

  it('passes on an event that is JSON but no message as it came, drops a batch, and still reads the answer after them', async () => {
    await putDocument('openshift', { ...openshift('sse'), policy: { tools: { allow: ['*'] } } });
    const { env, points } = recordingEnv();
    const response = await call(mcp('openshift', callTool('odd-events'), bearer('viewer-key')), env);
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(text).toContain('data: null\n\n');
    expect(text).toContain('data: 5\n\n');
    // A batch would carry past the policy what it holds (here an update of a resource it hides).
    expect(text).not.toContain('secret.md');
    expect(text).toContain('called odd-events');
    expect(points.map((p) => p.blobs?.slice(0, 6))).toEqual([
      ['openshift', 'tools/call', 'odd-events', 'allowed', 'alice', 'success'],
    ]);
  });

  it.each(['json', 'sse'] as const)(
    'records the bytes the client got of a filtered answer as %s, not those the bridge sent',
    async (path) => {
      await putDocument('openshift', openshift(path));
      const { env, points } = recordingEnv();
      const response = await call(mcp('openshift', list, bearer('viewer-key')), env);
      const got = (await response.arrayBuffer()).byteLength;
      const [, , responseBytes] = points[0]?.doubles ?? [];
      expect(responseBytes).toBe(got);
      // The bridge's list has tools the policy hides: what it sent is larger.
      const direct = new Request(`${upstream}/${path}/openshift/mcp`, mcp('openshift', list));
      const sent = await (await fetch(direct)).arrayBuffer();
      expect(sent.byteLength).toBeGreaterThan(got);
    },
  );
});

describe('routes', () => {
  it('serves RFC 9728 metadata, health, 404 and 405 as JSON', async () => {
    const metadata = await call(new Request(`${origin}/.well-known/oauth-protected-resource/openshift/mcp`));
    expect(await metadata.json()).toMatchObject({ resource: `${origin}/openshift/mcp` });
    expect((await call(new Request(`${origin}/healthz`))).status).toBe(200);
    const missing = await call(new Request(`${origin}/nowhere`));
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/json');
    expect((await call(new Request(`${origin}/openshift/mcp`, { method: 'PUT' }))).status).toBe(405);
  });
});
