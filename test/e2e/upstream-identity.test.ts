import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAssertionKey } from '../../admin/assertion-key.ts';
import { keyEntry } from '../../admin/keys.ts';
import { createLogger } from '../../bridge/log.ts';
import { type ExchangeProvider, startExchangeProvider } from '../../scripts/exchange-provider.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import { freePort } from '../../scripts/processes.ts';
import { AssertionKeysSchema, assertionFor } from '../../workers/identity/assertion.ts';
import { startWhoamiServer, type WhoamiServer } from '../fixtures/whoami-http.ts';
import { repo } from '../helpers/bridge.ts';
import { mcpgw } from '../helpers/cli.ts';
import { callText, connectWithKey, producedByRun, withSignatures } from '../helpers/identity.ts';
import { modernClient } from '../helpers/modern.ts';

const tokenSeconds = 10;
const renewBeforeSeconds = 4;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Each person's own credential at the upstream, through the whole path (docs/upstream-identity.md). */
describe('upstream identity: token exchange, edge to identity provider to servers', {
  timeout: 180_000,
}, () => {
  let idp: ExchangeProvider;
  let whoami: WhoamiServer;
  let gateway: LocalGateway;
  let edgeKey: Record<string, string>;
  const bridgeLog: string[] = [];
  const audited: Record<string, unknown>[] = [];
  const answers: string[] = [];
  const clients: Client[] = [];

  beforeAll(async () => {
    idp = await startExchangeProvider({ tokenSeconds });
    whoami = await startWhoamiServer({
      issuer: idp.issuer,
      jwksUrl: idp.jwksUrl,
      audience: 'https://api.test',
    });
    const exchange = {
      mode: 'token-exchange',
      tokenEndpoint: idp.tokenEndpoint,
      clientId: idp.clientId,
      clientSecretEnv: 'IDP_CLIENT_SECRET',
      renewBeforeSeconds,
    };
    const root = await mkdtemp(join(tmpdir(), 'upstream-identity-'));
    const bridgeConfig = join(root, 'bridge.json');
    writeFileSync(
      bridgeConfig,
      JSON.stringify({
        version: 1,
        servers: [
          {
            name: 'kube',
            transport: {
              type: 'stdio',
              command: process.execPath,
              args: [join(repo, 'test/fixtures/whoami-stdio.ts')],
            },
            identity: {
              ...exchange,
              audience: 'https://kube.test',
              scopes: ['kube:read', 'kube:write'],
              stdio: {
                tokenFileEnv: 'MCP_UPSTREAM_TOKEN_FILE',
                tokenEnv: 'UPSTREAM_TOKEN',
                kubeconfig: { server: 'https://kube.test:6443' },
              },
            },
          },
          {
            name: 'api',
            transport: { type: 'streamable-http', url: whoami.url },
            identity: { ...exchange, grant: 'jwt-bearer', resource: 'https://api.test' },
          },
        ],
      }),
    );
    const documentsDir = join(root, 'servers');
    mkdirSync(documentsDir);
    for (const name of ['kube', 'api']) {
      const document = {
        version: 1,
        name,
        access: { groups: ['viewers'] },
        identity: { mode: 'token-exchange' },
        policy: { tools: { allow: ['whoami'] }, prompts: {}, resources: {} },
      };
      writeFileSync(join(documentsDir, `${name}.json`), JSON.stringify(document));
    }
    edgeKey = JSON.parse(newAssertionKey()) as Record<string, string>;
    const edgePort = await freePort();
    gateway = await startLocalGateway({
      bridgeConfig,
      documentsDir,
      edgePort,
      freeBridgePorts: true,
      log: createLogger('debug', {}, (line) => void bridgeLog.push(line)),
      vars: { ASSERTION_AUDIENCE: idp.issuer },
      secrets: { ASSERTION_SIGNING_KEY: JSON.stringify(edgeKey) },
      bridgeEnv: { IDP_CLIENT_SECRET: idp.clientSecret },
      keys: {
        'alice-key': { principal: 'alice', groups: ['viewers'] },
        'bob-key': { principal: 'bob', groups: ['viewers'] },
        'carol-key': { principal: 'carol', groups: ['viewers'] },
        'dave-key': { principal: 'dave', groups: ['viewers'] },
      },
      onAudit: (event) => audited.push(event),
      // A revoked key reaches the isolate within this bound (verified keys are kept as long).
      documentCacheSeconds: 1,
      // The Worker as `wrangler deploy` uploads it, in workerd: it starts sooner than wrangler dev.
      edge: 'deployed-bundle',
    });
    idp.trust(`${gateway.edgeUrl}/.well-known/jwks.json`, gateway.edgeUrl);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await gateway?.stop();
    await whoami?.stop();
    await idp?.stop();
  });

  const connect = (server: string, key: string) => connectWithKey(gateway.edgeUrl, server, key, clients);
  const ask = (client: Client) => callText(client, answers);

  it('alice and bob, 50 calls each at once, each see only their own identity, over HTTP and stdio', async () => {
    const people = ['alice', 'bob'] as const;
    const sessions = await Promise.all(
      people.flatMap((person) =>
        ['api', 'kube'].map(async (server) => ({
          person,
          server,
          client: await connect(server, `${person}-key`),
        })),
      ),
    );
    const runs = sessions.map(async ({ person, server, client }) => {
      const seen: string[] = [];
      for (let batch = 0; batch < 5; batch++) {
        seen.push(...(await Promise.all(Array.from({ length: 10 }, () => ask(client)))));
      }
      return { person, server, seen };
    });
    for (const { person, server, seen } of await Promise.all(runs)) {
      expect(seen).toHaveLength(50);
      const other = person === 'alice' ? 'bob' : 'alice';
      for (const answer of seen) {
        expect(answer, `${person} at ${server}`).not.toContain(other);
        if (server === 'api') expect(answer).toBe(person);
        else {
          expect(answer).toContain(`file=${person} exp=`);
          expect(answer).toContain(`kubeconfig=${person} exp=`);
          expect(answer).toContain(`env=${person}`);
          expect(answer).not.toContain('(expired)\nkubeconfig');
        }
      }
    }
    expect(idp.scopes).toContain('kube:read kube:write');
    // Tokens are kept per person: far fewer exchanges than calls.
    expect(idp.granted.get('alice') ?? 0).toBeGreaterThan(0);
    expect(idp.granted.get('alice') ?? 0).toBeLessThan(20);
    expect(whoami.refused).toEqual([]);
  });

  it('renews a token about to expire before the next call, without the client noticing', async () => {
    const kube = await connect('kube', 'alice-key');
    const api = await connect('api', 'alice-key');
    const before = await ask(kube);
    await ask(api);
    const granted = idp.granted.get('alice') ?? 0;
    await pause((tokenSeconds - renewBeforeSeconds + 0.5) * 1000);
    const after = await ask(kube);
    expect(await ask(api)).toBe('alice');
    const expOf = (text: string, name: string) => new RegExp(`${name}=alice exp=(\\d+)`).exec(text)?.[1];
    const pidOf = (text: string) => /pid=(\d+)/.exec(text)?.[1];
    // The same child, reading a rewritten file and kubeconfig with a later token.
    expect(pidOf(after)).toBe(pidOf(before));
    expect(Number(expOf(after, 'file'))).toBeGreaterThan(Number(expOf(before, 'file')));
    expect(Number(expOf(after, 'kubeconfig'))).toBeGreaterThan(Number(expOf(before, 'kubeconfig')));
    expect(after).not.toMatch(/file=alice \(expired\)|kubeconfig=alice \(expired\)/);
    expect(idp.granted.get('alice') ?? 0).toBeGreaterThanOrEqual(granted + 2);
    expect(whoami.refused).toEqual([]);
  });

  it('a token the server refuses (401) fails that call, and the next one comes with a new token', async () => {
    const api = await connect('api', 'alice-key');
    expect(await ask(api)).toBe('alice');
    const granted = idp.granted.get('alice') ?? 0;
    whoami.revoke('alice');
    const failed = await api.callTool({ name: 'whoami', arguments: {} }).then(
      (result) => JSON.stringify(result),
      (error: Error) => error.message,
    );
    expect(failed).toMatch(/MCP server unavailable: .*Error POSTing to endpoint/);
    expect(await ask(api)).toBe('alice');
    expect(idp.granted.get('alice')).toBe(granted + 1);
    expect(whoami.refused).toEqual(['revoked']);
  });

  it('a person revoked with mcpgw is refused at their next call; one the provider refuses is told why', async () => {
    const local = ['--local', '--persist-to', gateway.kvState];
    const { id } = await keyEntry({ principal: 'carol', groups: ['viewers'] }, 'carol-key');
    const carol = await connect('api', 'carol-key');
    expect(await ask(carol)).toBe('carol');
    expect((await mcpgw(['keys', 'revoke', id, ...local])).code).toBe(0);
    const granted = idp.granted.get('carol');
    await expect(carol.callTool({ name: 'whoami', arguments: {} })).rejects.toThrow(/403|revoked/);
    expect(idp.granted.get('carol')).toBe(granted);

    idp.revoke('dave');
    const refused = await connect('api', 'dave-key').then(
      () => 'connected',
      (error: Error) => error.message,
    );
    // The provider's own words (oidc-provider keeps its detail to itself), never a token.
    expect(refused).toContain('the identity provider refused: invalid_grant');
    expect(idp.refusals).toContain('dave may no longer use this');
    expect(refused).toContain('Your own credential for the MCP server \\"api\\" could not be had');
  });

  it('a 2026-07-28 client (no session) is served as itself too, each person on children of their own', async () => {
    const people = ['alice', 'bob'] as const;
    const runs = people.flatMap((person) =>
      ['api', 'kube'].map(async (server) => {
        const client = await modernClient(new URL(`${gateway.edgeUrl}/${server}/mcp`), {
          token: `${person}-key`,
        });
        try {
          const seen = await Promise.all(
            Array.from({ length: 10 }, async () => {
              const result = await client.callTool({ name: 'whoami', arguments: {} });
              return (result.content as { text: string }[])[0]?.text ?? '';
            }),
          );
          return { person, server, seen };
        } finally {
          await client.close();
        }
      }),
    );
    for (const { person, server, seen } of await Promise.all(runs)) {
      const other = person === 'alice' ? 'bob' : 'alice';
      answers.push(...seen);
      for (const answer of seen) {
        expect(answer, `${person} at ${server}`).not.toContain(other);
        expect(answer).toContain(server === 'api' ? person : `file=${person} exp=`);
      }
    }
  });

  it('a portal session reaches each per-person member as its caller', async () => {
    for (const person of ['alice', 'bob']) {
      const portal = await connect('', `${person}-key`);
      const names = (await portal.listTools()).tools.map((tool) => tool.name).sort();
      expect(names).toEqual(['api__whoami', 'kube__whoami']);
      const api = await portal.callTool({ name: 'api__whoami', arguments: {} });
      const kube = await portal.callTool({ name: 'kube__whoami', arguments: {} });
      const texts = [api, kube].map((result) => (result.content as { text: string }[])[0]?.text ?? '');
      answers.push(...texts);
      expect(texts[0]).toBe(person);
      expect(texts[1]).toContain(`file=${person} exp=`);
    }
  });

  it('the identity provider refuses a forged assertion and a replayed one', async () => {
    const exchange = (assertion: string) =>
      fetch(idp.tokenEndpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${btoa(`${idp.clientId}:${idp.clientSecret}`)}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: assertion,
          subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
          audience: 'https://kube.test',
        }),
      });
    // Made by the Worker's own code: with the edge's key, and with another under the same key id.
    const assertion = (jwk: Record<string, string>) =>
      assertionFor(
        {
          keys: AssertionKeysSchema.parse(JSON.stringify(jwk)),
          issuer: gateway.edgeUrl,
          audience: idp.issuer,
        },
        { subject: 'alice', groups: [], method: 'api_key' },
        'kube',
      );
    const other = JSON.parse(newAssertionKey()) as Record<string, string>;
    const forged = await exchange(await assertion({ ...other, kid: edgeKey.kid ?? '' }));
    expect(forged.status).toBe(400);
    expect(await forged.json()).toMatchObject({ error: 'invalid_grant' });
    const genuine = await assertion(edgeKey);
    expect((await exchange(genuine)).status).toBe(200);
    const replayed = await exchange(genuine);
    expect(replayed.status).toBe(400);
    expect(idp.refusals.at(-1)).toBe('assertion replayed');
  });

  it('no token, secret or key appears in any log, audit line, metric or answer of the run', async () => {
    const everything = await producedByRun(gateway, { bridgeLog, audited, answers });
    const secrets = [...withSignatures(idp.issued), idp.clientSecret, edgeKey.d ?? ''];
    expect(idp.issued.length).toBeGreaterThan(3);
    for (const secret of secrets) expect(everything.includes(secret), 'a credential leaked').toBe(false);
    // What the audit line does record: the mode and whose identity.
    expect(audited.filter((e) => e.server === 'api').at(0)).toMatchObject({
      identity: { mode: 'token-exchange', subject: expect.any(String) },
    });
    expect(bridgeLog.some((line) => line.includes('"identity":"token-exchange"'))).toBe(true);
  });
});
