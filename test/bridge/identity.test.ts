import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { newAssertionKey } from '../../admin/assertion-key.ts';
import { startBridge } from '../../bridge/app.ts';
import { ConfigError, parseConfig, type ServerConfig } from '../../bridge/config.ts';
import { Credential } from '../../bridge/identity/credential.ts';
import { TokenExchange } from '../../bridge/identity/exchange.ts';
import { identityFor } from '../../bridge/identity/identity.ts';
import { createLogger } from '../../bridge/log.ts';
import { type ExchangeProvider, startExchangeProvider } from '../../scripts/exchange-provider.ts';
import { freePort } from '../../scripts/processes.ts';
import { credentialHeader, sealCredential } from '../../shared/security/forwarded-credential.ts';
import { encodePrincipal, signatureHeaders } from '../../shared/security/signing.ts';
import {
  type AssertionKeys,
  AssertionKeysSchema,
  assertionFor,
  publishedKeys,
} from '../../workers/identity/assertion.ts';

const stdio = { type: 'stdio', command: 'node', args: ['server.js'] };
const exchanging = (tokenEndpoint: string) => ({
  mode: 'token-exchange',
  tokenEndpoint,
  clientId: 'mcp-bridge',
  clientSecretEnv: 'IDP_CLIENT_SECRET',
  audience: 'https://kube.test',
});

function problems(
  servers: unknown[],
  env: NodeJS.ProcessEnv = {},
  signatures = 'required',
): Promise<string[]> {
  const config = { version: 1, listen: { port: 0 }, metrics: { port: 0 }, edge: { signatures }, servers };
  return (async () => {
    try {
      const bridge = await startBridge(parseConfig(config), createLogger('error'), {
        BRIDGE_SIGNING_SECRET: 'x'.repeat(32),
        ...env,
      });
      await bridge.drain(0);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
  })();
}

describe('a server that acts as each person: its configuration', () => {
  const identity = exchanging('https://idp.test/token');

  it('is refused in shared mode, which cannot hold one person’s credential', async () => {
    for (const personal of [identity, { mode: 'per-user-oauth' }]) {
      expect(
        await problems([{ name: 'kube', transport: stdio, sessions: 'shared', identity: personal }]),
      ).toEqual([
        'servers[0].identity.mode: sessions: shared serves everyone from one upstream, which can hold no one person’s credential; use sessions: isolated',
      ]);
    }
  });

  it('needs its client secret in the environment, and the edge’s signed caller', async () => {
    expect(await problems([{ name: 'kube', transport: stdio, identity }])).toEqual([
      'servers.kube.identity: set IDP_CLIENT_SECRET, the client secret the bridge has at https://idp.test/token',
    ]);
    expect(
      await problems([{ name: 'kube', transport: stdio, identity }], { IDP_CLIENT_SECRET: 's' }, 'off'),
    ).toEqual([
      "servers.kube.identity: token-exchange needs the edge's signed caller; set edge.signatures: required",
    ]);
  });

  it('takes scope tokens as RFC 6749 writes them, and refuses one with a space', () => {
    const withScopes = (scopes: string[]) => [
      { name: 'kube', transport: stdio, identity: { ...identity, scopes } },
    ];
    expect(
      parseConfig({ version: 1, servers: withScopes(['openid', 'read:org']) }).servers[0]?.identity,
    ).toMatchObject({
      scopes: ['openid', 'read:org'],
    });
    expect(() => parseConfig({ version: 1, servers: withScopes(['read org']) })).toThrow(
      /scopes\[0\]: a scope token/,
    );
  });

  it('says service when it says nothing', async () => {
    const config = parseConfig({ version: 1, servers: [{ name: 'a', transport: stdio }] });
    expect(config.servers[0]?.identity).toEqual({ mode: 'service' });
  });
});

describe('token exchange at a real identity provider', () => {
  let idp: ExchangeProvider;
  let edge: Server;
  let keys: AssertionKeys;
  let origin: string;
  let config: Extract<ServerConfig['identity'], { mode: 'token-exchange' }>;

  beforeAll(async () => {
    idp = await startExchangeProvider({ tokenSeconds: 30 });
    // The edge's own key and JWKS, as mcpgw assertion-key makes it and the Worker publishes it.
    keys = AssertionKeysSchema.parse(newAssertionKey());
    const published = JSON.stringify(publishedKeys(keys));
    edge = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(published),
    );
    await new Promise<void>((resolve) => edge.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(edge.address() as AddressInfo).port}`;
    idp.trust(`${origin}/jwks`, origin);
    const parsed = parseConfig({
      version: 1,
      servers: [{ name: 'kube', transport: stdio, identity: exchanging(idp.tokenEndpoint) }],
    });
    config = parsed.servers[0]?.identity as typeof config;
  });
  afterAll(async () => {
    await idp?.stop();
    edge?.closeAllConnections();
    await new Promise((resolve) => edge?.close(resolve));
  });

  /** The edge's assertion of `sub`, made by the Worker's own code. */
  const assertion = (sub: string) =>
    assertionFor(
      { keys, issuer: origin, audience: idp.issuer },
      { subject: sub, groups: [], method: 'api_key' },
      'kube',
    );

  it('asks once for many requests of one person at the same time, and keeps the token', async () => {
    let asked = 0;
    const counting: typeof fetch = (input, init) => {
      asked += 1;
      return fetch(input, init);
    };
    const exchange = new TokenExchange(config, idp.clientSecret, { fetch: counting });
    const tokens = await Promise.all(
      Array.from({ length: 20 }, async () => exchange.tokenFor('dana', await assertion('dana'))),
    );
    expect(asked).toBe(1);
    expect(new Set(tokens.map((t) => t.value)).size).toBe(1);
    await exchange.tokenFor('dana', undefined);
    expect(asked).toBe(1);
    const erin = await exchange.tokenFor('erin', await assertion('erin'));
    expect(erin.value).not.toBe(tokens[0]?.value);
    expect(asked).toBe(2);
  });

  it('asks again once the kept token is within renewBeforeSeconds of its end', async () => {
    let now = Date.now();
    const exchange = new TokenExchange({ ...config, renewBeforeSeconds: 10 }, idp.clientSecret, {
      now: () => now,
    });
    const first = await exchange.tokenFor('frank', await assertion('frank'));
    now += 19_000;
    expect((await exchange.tokenFor('frank', undefined)).value).toBe(first.value);
    now += 2_000;
    await expect(exchange.tokenFor('frank', undefined)).rejects.toThrow(/no assertion/);
    expect((await exchange.tokenFor('frank', await assertion('frank'))).value).not.toBe(first.value);
  });

  it('says why the provider refused, in its words, and never with the secret or the assertion', async () => {
    const wrong = new TokenExchange(config, 'not-the-secret');
    const sent = await assertion('gina');
    const error = await wrong.tokenFor('gina', sent).catch((e: Error) => e);
    expect(String(error)).toMatch(/the identity provider refused: invalid_client/);
    expect(String(error)).not.toContain('not-the-secret');
    expect(String(error)).not.toContain(sent);
    const closed = `http://127.0.0.1:${await freePort()}/token`;
    const unreachable = new TokenExchange({ ...config, tokenEndpoint: closed }, 's');
    await expect(unreachable.tokenFor('gina', sent)).rejects.toThrow(/could not be reached \(ECONNREFUSED\)/);
  });

  it('reads no more than 64 KiB of the provider’s answer', async () => {
    const huge = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"access_token":"${'x'.repeat(1024 * 1024)}","token_type":"Bearer"}`);
    });
    await new Promise<void>((resolve) => huge.listen(0, '127.0.0.1', resolve));
    try {
      const tokenEndpoint = `http://127.0.0.1:${(huge.address() as AddressInfo).port}/token`;
      const exchange = new TokenExchange({ ...config, tokenEndpoint }, 's');
      await expect(exchange.tokenFor('judy', 'an-assertion')).rejects.toThrow(
        'the identity provider answered with more than 65536 bytes',
      );
    } finally {
      huge.closeAllConnections();
      await new Promise((resolve) => huge.close(resolve));
    }
  });

  it('tries once more when the connection fails before any answer (a kept-alive one closed just then)', async () => {
    let requests = 0;
    const flaky = createServer((req, res) => {
      requests += 1;
      if (requests === 1) return void req.socket.destroy();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'a-token', token_type: 'Bearer', expires_in: 60 }));
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    try {
      const tokenEndpoint = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/token`;
      const exchange = new TokenExchange({ ...config, tokenEndpoint }, 's');
      expect((await exchange.tokenFor('ivan', 'an-assertion')).value).toBe('a-token');
      expect(requests).toBe(2);
    } finally {
      flaky.closeAllConnections();
      await new Promise((resolve) => flaky.close(resolve));
    }
  });
});

describe('per-user-oauth: the connected account’s token, forwarded sealed by the edge', () => {
  const secret = 'x'.repeat(32);
  const server = parseConfig({
    version: 1,
    servers: [
      {
        name: 'github',
        transport: { type: 'streamable-http', url: 'http://127.0.0.1:1/mcp' },
        identity: { mode: 'per-user-oauth' },
      },
    ],
  }).servers[0] as ServerConfig;
  const identity = identityFor(server, {}, { signingSecret: secret });
  const alice = { subject: 'alice', groups: [], method: 'api_key' as const };

  async function request(subject: string, token: string | undefined, sealedFor = subject): Promise<Request> {
    const headers: Record<string, string> = {
      [signatureHeaders.principal]: encodePrincipal({ ...alice, subject }),
      [signatureHeaders.nonce]: randomBytes(16).toString('base64url'),
    };
    if (token !== undefined) {
      const sealing = {
        ...headers,
        [signatureHeaders.principal]: encodePrincipal({ ...alice, subject: sealedFor }),
      };
      const credential = { token, connect: 'https://gw.test/connect/github' };
      headers[credentialHeader('github')] = await sealCredential(secret, 'github', sealing, credential);
    }
    return new Request('http://bridge.test/github/mcp', { method: 'POST', headers });
  }

  it('opens the signed caller’s token, and refuses none, or one sealed for someone else', async () => {
    const credential = await identity.open(await request('alice', 'gho_alice'), alice);
    expect(credential?.authorization()).toBe('Bearer gho_alice');
    await expect(identity.open(await request('alice', undefined), alice)).rejects.toThrow(
      /forwarded no connected account/,
    );
    await expect(identity.open(await request('alice', 'gho_bob', 'bob'), alice)).rejects.toThrow(
      /forwarded no connected account/,
    );
    await expect(identity.open(await request('alice', 'gho_alice'), undefined)).rejects.toThrow(
      /no signed caller/,
    );
  });

  it('takes the newer token the edge renewed; a token the server refused asks the person to connect again', async () => {
    const credential = (await identity.open(await request('alice', 'gho_1'), alice)) as Credential;
    await identity.freshen(credential, await request('alice', 'gho_2'), alice);
    expect(credential.authorization()).toBe('Bearer gho_2');
    credential.refusedByServer();
    await expect(identity.freshen(credential, await request('alice', 'gho_2'), alice)).rejects.toThrow(
      'the MCP server refused your connected account; connect it again at https://gw.test/connect/github',
    );
    await identity.freshen(credential, await request('alice', 'gho_3'), alice);
    expect(credential.stale).toBe(false);
    const bob = { ...alice, subject: 'bob' };
    await expect(identity.freshen(credential, await request('bob', 'gho_bob'), bob)).rejects.toThrow(
      /someone else/,
    );
  });
});

describe('a stdio child’s credential files', () => {
  it('are private, rewritten whole with the new token, and gone when the child is', () => {
    const stdioDelivery = {
      tokenFileEnv: 'TOKEN_FILE',
      tokenEnv: 'TOKEN',
      kubeconfig: { env: 'KUBECONFIG', server: 'https://kube.test:6443' },
    };
    const credential = new Credential(
      'hana',
      { value: 'first-token', issuedAt: Date.now(), expiresAt: Date.now() + 60_000 },
      stdioDelivery,
    );
    const env = credential.env();
    expect(env.TOKEN).toBe('first-token');
    const tokenFile = env.TOKEN_FILE as string;
    const kubeconfig = env.KUBECONFIG as string;
    expect(readFileSync(tokenFile, 'utf8')).toBe('first-token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(parse(readFileSync(kubeconfig, 'utf8'))).toMatchObject({
      clusters: [{ cluster: { server: 'https://kube.test:6443' } }],
      users: [{ user: { token: 'first-token' } }],
    });
    credential.renew({ value: 'second-token', issuedAt: Date.now(), expiresAt: Date.now() + 120_000 });
    expect(readFileSync(tokenFile, 'utf8')).toBe('second-token');
    expect(readFileSync(kubeconfig, 'utf8')).toContain('second-token');
    expect(credential.authorization()).toBe('Bearer second-token');
    credential.close();
    expect(existsSync(tokenFile)).toBe(false);
    expect(existsSync(kubeconfig)).toBe(false);
  });
});
