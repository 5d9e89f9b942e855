import { env } from 'cloudflare:test';
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

  it('with sign-in on, the resource metadata points at this origin as its authorization server', async () => {
    const on = { ...env, SIGN_IN_ISSUER: 'https://login.example.com/', SIGN_IN_CLIENT_ID: 'gw' };
    const metadata = await call(
      new Request(`${origin}/.well-known/oauth-protected-resource/guarded/mcp`),
      on,
    );
    expect(((await metadata.json()) as Record<string, unknown>).authorization_servers).toEqual([origin]);
    const as = await call(new Request(`${origin}/.well-known/oauth-authorization-server`), on);
    const body = (await as.json()) as Record<string, unknown>;
    expect(body.issuer).toBe(origin);
    expect(body.code_challenge_methods_supported).toEqual(['S256']);
    expect(body.token_endpoint_auth_methods_supported).toContain('none');
    expect(body.client_id_metadata_document_supported).toBe(true);
    expect(body.protected_resources).toContain(`${origin}/guarded/mcp`);
  });
});
