import { env } from 'cloudflare:test';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { openCredential } from '../../shared/security/forwarded-credential.ts';
import { connectionKey } from '../../shared/storage/kv.ts';
import type { Env } from '../../workers/env.ts';
import { connectionStore } from '../../workers/identity/connections.ts';
import {
  bearer,
  call,
  mcp,
  origin,
  putApiKey,
  putDocument,
  recorded,
  resetUpstream,
  upstream,
} from './helpers.ts';

const document = (name: string, mode: string) => ({
  version: 1,
  name,
  access: { groups: ['viewers'] },
  identity: { mode },
  policy: { tools: { allow: ['*'] } },
  audit: { arguments: 'none' },
});

const whoami = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } };
const audience = 'https://idp.test/';

describe('the edge’s assertion of the caller, for a token-exchange server', () => {
  let key: string;
  const withKey = (e: Env, extra: Partial<Env> = {}): Env => ({
    ...e,
    BRIDGE_URL: `${upstream}/json/`,
    DOCUMENT_CACHE_SECONDS: '0',
    ASSERTION_SIGNING_KEY: key,
    ASSERTION_AUDIENCE: audience,
    ...extra,
  });

  beforeAll(async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    key = JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'edge-1' });
  });

  beforeEach(async () => {
    await resetUpstream();
    await putDocument('kube', document('kube', 'token-exchange'));
    await putDocument('wiki', document('wiki', 'service'));
    await putApiKey('alice-key', { principal: 'alice', groups: ['viewers'] });
  });

  it('publishes only the public half of its keys, and no JWKS without a key', async () => {
    expect((await call(new Request(`${origin}/.well-known/jwks.json`), { ...env })).status).toBe(404);
    const published = await call(new Request(`${origin}/.well-known/jwks.json`), withKey(env));
    const set = (await published.json()) as { keys: Record<string, unknown>[] };
    expect(set.keys).toHaveLength(1);
    expect(set.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', kid: 'edge-1', alg: 'ES256', use: 'sig' });
    expect(set.keys[0]).not.toHaveProperty('d');
  });

  it('sends a fresh one-minute assertion of the caller with each request, verifiable by the JWKS', async () => {
    const e = withKey(env);
    for (let i = 0; i < 2; i++)
      expect((await call(mcp('kube', whoami, bearer('alice-key')), e)).status).toBe(200);
    const sent = (await recorded()).map((r) => String(r.headers['mcp-gateway-assertion-kube'] ?? ''));
    expect(sent).toHaveLength(2);
    const jwks = await (await call(new Request(`${origin}/.well-known/jwks.json`), e)).json();
    const verified = await Promise.all(
      sent.map((token) =>
        jwtVerify(token, createLocalJWKSet(jwks as never), {
          issuer: origin,
          audience,
          algorithms: ['ES256'],
        }),
      ),
    );
    const [first, second] = verified.map((v) => v.payload);
    expect(first).toMatchObject({
      sub: 'alice',
      groups: ['viewers'],
      auth_method: 'api_key',
      mcp_server: 'kube',
    });
    expect((first?.exp ?? 0) - (first?.iat ?? 0)).toBe(60);
    expect(first?.jti).not.toBe(second?.jti);
    // The client's own credential never crosses.
    expect((await recorded()).every((r) => r.headers.authorization === undefined)).toBe(true);
  });

  it('sends none for a service server, and says in the audit line whose credential was used', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await call(mcp('wiki', whoami, bearer('alice-key')), withKey(env));
      await call(mcp('kube', whoami, bearer('alice-key')), withKey(env));
      const [wiki, kube] = await recorded();
      expect(Object.keys(wiki?.headers ?? {}).filter((h) => h.startsWith('mcp-gateway-assertion'))).toEqual(
        [],
      );
      expect(kube?.headers['mcp-gateway-assertion-kube']).toBeDefined();
      const audited = log.mock.calls
        .map(([line]) => JSON.parse(String(line)))
        .filter((line) => line.event === 'mcp.tools.call');
      expect(audited.map((line) => line.identity)).toEqual([
        { mode: 'service' },
        { mode: 'token-exchange', subject: 'alice' },
      ]);
      expect(JSON.stringify(audited)).not.toContain('eyJ');
    } finally {
      log.mockRestore();
    }
  });

  it('refuses a token-exchange server when the edge has no key, and sends it nothing', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const response = await call(
        mcp('kube', whoami, bearer('alice-key')),
        withKey(env, { ASSERTION_SIGNING_KEY: undefined }),
      );
      expect(response.status).toBe(500);
      expect(await recorded()).toEqual([]);
      expect(error.mock.calls.map(([line]) => String(line)).join('\n')).toContain('ASSERTION_SIGNING_KEY');
    } finally {
      error.mockRestore();
    }
  });

  it('refuses a key that is not a private P-256 JWK, naming the setting', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const { d } = JSON.parse(key) as { d: string };
      for (const wrong of [
        '{"kty":"oct","k":"c2VjcmV0"}',
        JSON.stringify({ ...JSON.parse(key), kid: 'a b' }),
      ]) {
        const bad = withKey(env, { ASSERTION_SIGNING_KEY: wrong });
        expect((await call(mcp('wiki', whoami, bearer('alice-key')), bad)).status).toBe(500);
      }
      const logged = error.mock.calls.map(([line]) => String(line)).join('\n');
      expect(logged).toContain('ASSERTION_SIGNING_KEY');
      expect(logged).not.toContain(d);
      expect(logged).not.toContain('c2VjcmV0');
    } finally {
      error.mockRestore();
    }
  });
});

describe('a per-user-oauth server: the person’s connected account, at the edge', () => {
  const tokenKey = 'k'.repeat(40);
  const withConnect = (e: Env, extra: Partial<Env> = {}): Env => ({
    ...e,
    BRIDGE_URL: `${upstream}/json/`,
    DOCUMENT_CACHE_SECONDS: '0',
    SIGN_IN_ISSUER: 'https://login.example.com/',
    SIGN_IN_CLIENT_ID: 'gw',
    UPSTREAM_TOKEN_KEY: tokenKey,
    ...extra,
  });
  const saas = {
    ...document('github', 'per-user-oauth'),
    identity: {
      mode: 'per-user-oauth',
      issuer: 'https://github.example/login/oauth',
      authorizationEndpoint: 'https://github.example/login/oauth/authorize',
      tokenEndpoint: 'https://github.example/login/oauth/access_token',
      clientId: 'Iv1.gw',
    },
  };

  beforeEach(async () => {
    await resetUpstream();
    await putDocument('github', saas);
    await putApiKey('alice-key', { principal: 'alice', groups: ['viewers'] });
  });

  it('answers a person who has not connected with the link (URLElicitationRequiredError), sending nothing on', async () => {
    const response = await call(mcp('github', whoami, bearer('alice-key')), withConnect(env));
    expect(response.status).toBe(200);
    const { error } = (await response.json()) as { error: { code: number; message: string; data: unknown } };
    expect(error.code).toBe(-32042);
    expect(error.data).toMatchObject({ elicitations: [{ mode: 'url', url: `${origin}/connect/github` }] });
    expect(await recorded()).toEqual([]);
  });

  it('forwards the connected token sealed to the signed request, never in the clear', async () => {
    const store = connectionStore(env.GATEWAY_KV, tokenKey);
    const connection = { accessToken: 'gho_alice_secret', connectedAt: new Date().toISOString() };
    await store.save('github', 'alice', connection);
    expect(await env.GATEWAY_KV.get(connectionKey('github', 'alice'))).not.toContain('gho_alice_secret');
    expect((await call(mcp('github', whoami, bearer('alice-key')), withConnect(env))).status).toBe(200);
    const [sent] = await recorded();
    const headers = sent?.headers ?? {};
    expect(JSON.stringify(headers)).not.toContain('gho_alice_secret');
    const secret = (env as Env).BRIDGE_SIGNING_SECRET ?? '';
    const opened = await openCredential(secret, 'github', (name) => headers[name] as string | undefined);
    expect(opened).toEqual({ token: 'gho_alice_secret', connect: `${origin}/connect/github` });
    // mallory copies alice's sealed entry under his own key: it opens for no one.
    await putApiKey('mallory-key', { principal: 'mallory', groups: ['viewers'] });
    const sealed = (await env.GATEWAY_KV.get(connectionKey('github', 'alice'))) ?? '';
    await env.GATEWAY_KV.put(connectionKey('github', 'mallory'), sealed);
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const copied = await call(mcp('github', whoami, bearer('mallory-key')), withConnect(env));
      expect(((await copied.json()) as { error: { code: number } }).error.code).toBe(-32042);
      expect(String(error.mock.calls[0]?.[0])).toContain('identity.connection_unreadable');
    } finally {
      error.mockRestore();
    }
    expect(await recorded()).toHaveLength(1);
  });

  it('refuses without the token key or the gateway’s sign-in, naming the fix, and sends nothing', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      for (const missing of [{ UPSTREAM_TOKEN_KEY: undefined }, { SIGN_IN_ISSUER: undefined }]) {
        const response = await call(mcp('github', whoami, bearer('alice-key')), withConnect(env, missing));
        expect(response.status).toBe(500);
      }
      const logged = error.mock.calls.map(([line]) => String(line)).join('\n');
      expect(logged).toContain('UPSTREAM_TOKEN_KEY');
      expect(logged).toContain('SIGN_IN_ISSUER');
      expect(await recorded()).toEqual([]);
    } finally {
      error.mockRestore();
    }
  });
});
