import { env } from 'cloudflare:test';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, call, mcp, origin, putDocument, upstream } from './helpers.ts';

const doc = {
  version: 1,
  name: 'guarded',
  upstream: { url: `${upstream}/guarded/mcp` },
  access: { groups: ['developers'] },
  policy: { tools: { allow: ['*'] } },
};

const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} };

/** The Worker with OAuth sign-in not configured (the default), and misconfigured. */
describe('OAuth sign-in when it is off or misconfigured', () => {
  beforeAll(() => putDocument('guarded', doc));

  it('serves no authorization server: the endpoints do not exist, metadata names none', async () => {
    for (const path of [
      '/authorize',
      '/oauth/token',
      '/oauth/register',
      '/oauth/callback',
      '/.well-known/oauth-authorization-server',
    ]) {
      expect((await call(new Request(`${origin}${path}`))).status, path).toBe(404);
    }
    const metadata = await call(new Request(`${origin}/.well-known/oauth-protected-resource/guarded/mcp`));
    const body = (await metadata.json()) as Record<string, unknown>;
    expect(body.resource).toBe(`${origin}/guarded/mcp`);
    expect(body.authorization_servers).toBeUndefined();
  });

  it('refuses a token shaped like the OAuth library’s', async () => {
    const response = await call(mcp('guarded', initialize, bearer('alice:grant123:secret456')));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('resource_metadata=');
  });

  it('fails closed, naming the fix, when SIGN_IN_ISSUER comes without its client id or store', async () => {
    const misconfigured = [
      { ...env, SIGN_IN_ISSUER: 'https://login.example.com/' },
      { ...env, SIGN_IN_ISSUER: 'https://login.example.com/', SIGN_IN_CLIENT_ID: 'gw', OAUTH_KV: undefined },
      { ...env, OAUTH_CLIENTS: '[{"client_id":"x"}]' },
      { ...env, OAUTH_DYNAMIC_REGISTRATION: 'maybe' },
    ];
    for (const e of misconfigured) {
      const response = await call(mcp('guarded', initialize, bearer('mcpgw_whatever')), e);
      expect(response.status).toBe(500);
    }
  });

  it('with sign-in on, a server that needs a credential is its own issuer, found under its path', async () => {
    const on = { ...env, SIGN_IN_ISSUER: 'https://login.example.com/', SIGN_IN_CLIENT_ID: 'gw' };
    const metadata = await call(
      new Request(`${origin}/.well-known/oauth-protected-resource/guarded/mcp`),
      on,
    );
    const issuer = `${origin}/guarded/mcp`;
    expect(((await metadata.json()) as Record<string, unknown>).authorization_servers).toEqual([issuer]);
    const as = await call(new Request(`${origin}/.well-known/oauth-authorization-server/guarded/mcp`), on);
    const body = (await as.json()) as Record<string, unknown>;
    expect(body.issuer).toBe(issuer);
    expect(body.authorization_endpoint).toBe(`${origin}/authorize`);
    expect(body.token_endpoint).toBe(`${origin}/oauth/token`);
    expect(body.code_challenge_methods_supported).toEqual(['S256']);
    expect(body.token_endpoint_auth_methods_supported).toContain('none');
    expect(body.client_id_metadata_document_supported).toBe(true);
    expect(body.protected_resources).toEqual([issuer]);
  });

  it('with sign-in on, an open server offers no sign-in anywhere a client looks for one', async () => {
    await putDocument('lobby', { ...doc, name: 'lobby', access: { anonymous: true } });
    const on = { ...env, SIGN_IN_ISSUER: 'https://login.example.com/', SIGN_IN_CLIENT_ID: 'gw' };
    const metadata = await call(new Request(`${origin}/.well-known/oauth-protected-resource/lobby/mcp`), on);
    expect(metadata.status).toBe(200);
    expect(((await metadata.json()) as Record<string, unknown>).authorization_servers).toBeUndefined();
    for (const path of [
      '/.well-known/oauth-authorization-server/lobby/mcp',
      '/lobby/mcp/.well-known/oauth-authorization-server',
      '/.well-known/oauth-authorization-server',
      '/.well-known/oauth-authorization-server/nowhere/mcp',
    ]) {
      expect((await call(new Request(`${origin}${path}`), on)).status, path).toBe(404);
    }
    const consent = await call(
      new Request(
        `${origin}/authorize?response_type=code&client_id=x&resource=${encodeURIComponent(`${origin}/lobby/mcp`)}`,
      ),
      on,
    );
    expect(consent.status).toBe(400);
    expect(await consent.text()).toContain('open to everyone');
  });
});

/**
 * Whatever arrives at the sign-in endpoints, the answer is a clear refusal, never a 500. The
 * identity provider named here does not answer OIDC discovery (the recording upstream), so a
 * consent that got that far gets the "cannot be reached" page. Client ids never start with
 * https: nothing is fetched from outside 127.0.0.1.
 */
describe('the sign-in endpoints under fuzzing', () => {
  const on = {
    ...env,
    SIGN_IN_ISSUER: `${upstream}/issuer`,
    SIGN_IN_CLIENT_ID: 'gw',
    OAUTH_CLIENTS: JSON.stringify([
      { client_id: 'known', client_name: 'Known', redirect_uris: ['http://127.0.0.1:9/cb'] },
    ]),
  };
  const word = fc.string({ maxLength: 40 }).filter((s) => !/^\s*https:/i.test(s));
  const params = fc.dictionary(
    fc.constantFrom(
      'response_type',
      'client_id',
      'redirect_uri',
      'state',
      'scope',
      'resource',
      'code_challenge',
      'code_challenge_method',
      'code',
      'grant_type',
      'code_verifier',
      'refresh_token',
      'error',
      'iss',
    ),
    fc.oneof(
      word,
      fc.constantFrom(
        'code',
        'known',
        'S256',
        'plain',
        'http://127.0.0.1:9/cb',
        `${origin}/guarded/mcp`,
        'authorization_code',
        'refresh_token',
      ),
    ),
  );
  const clear = (status: number) => status < 500 || status === 502 || status === 503;

  beforeAll(() => putDocument('guarded', doc));

  /** A valid authorization request with each field kept, dropped or replaced: most get deep. */
  const valid: Record<string, string> = {
    response_type: 'code',
    client_id: 'known',
    redirect_uri: 'http://127.0.0.1:9/cb',
    state: 's',
    resource: `${origin}/guarded/mcp`,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  };
  const mutated = fc
    .tuple(
      ...Object.keys(valid).map(() =>
        fc.oneof(
          { arbitrary: fc.constant('keep'), weight: 8 },
          { arbitrary: fc.constant('drop'), weight: 1 },
          { arbitrary: word, weight: 1 },
        ),
      ),
    )
    .map((choices) =>
      Object.fromEntries(
        Object.entries(valid).flatMap(([key, value], i) => {
          const choice = choices[i];
          if (choice === 'keep' || choice === undefined) return [[key, value]];
          return choice === 'drop' ? [] : [[key, choice]];
        }),
      ),
    );

  it('GET /authorize and /oauth/callback with any query', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/authorize', '/oauth/callback'),
        fc.oneof(params, mutated),
        async (path, query) => {
          const response = await call(
            new Request(`${origin}${path}?${new URLSearchParams(query)}`, { redirect: 'manual' }),
            on,
          );
          expect(clear(response.status), `${path} ${response.status}`).toBe(true);
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          await response.arrayBuffer();
        },
      ),
      { numRuns: 400 },
    );
    // The fuzzing reached the consent page and the redirects back to the client, not only the first check.
    expect(statuses.get(200)).toBeGreaterThan(5);
    expect(statuses.get(302)).toBeGreaterThan(5);
  });

  it('POST /oauth/token and /authorize with any form, and with other bodies', async () => {
    const body = fc.oneof(
      params.map((p) => ({
        type: 'application/x-www-form-urlencoded',
        text: new URLSearchParams(p).toString(),
      })),
      fc.string({ maxLength: 200 }).map((text) => ({ type: 'application/x-www-form-urlencoded', text })),
      fc.jsonValue({ maxDepth: 3 }).map((v) => ({ type: 'application/json', text: JSON.stringify(v) })),
      fc.string({ maxLength: 200 }).map((text) => ({ type: 'multipart/form-data; boundary=x', text })),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/oauth/token', '/authorize', '/oauth/register'),
        body,
        async (path, { type, text }) => {
          const request = new Request(`${origin}${path}`, {
            method: 'POST',
            headers: { 'content-type': type },
            body: text,
          });
          const response = await call(request, on);
          expect(clear(response.status), `${path} ${response.status} ${text.slice(0, 80)}`).toBe(true);
          await response.arrayBuffer();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a body over 64 KiB before reading it', async () => {
    for (const path of ['/oauth/token', '/authorize']) {
      const request = new Request(`${origin}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `client_id=known&x=${'a'.repeat(70_000)}`,
      });
      const response = await call(request, on);
      expect(response.status, path).toBeGreaterThanOrEqual(400);
      expect(response.status, path).toBeLessThan(500);
    }
  });
});
