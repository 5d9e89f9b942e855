import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import { freePort } from '../../scripts/processes.ts';
import {
  type SaasAuthorizationServer,
  startSaasAuthorizationServer,
} from '../fixtures/saas-authorization-server.ts';
import { startWhoamiServer, type WhoamiServer } from '../fixtures/whoami-http.ts';
import { repo } from '../helpers/bridge.ts';
import { mcpgw } from '../helpers/cli.ts';
import {
  callText,
  connectWithKey,
  keyTransport,
  producedByRun,
  withSignatures,
} from '../helpers/identity.ts';
import { modernClient } from '../helpers/modern.ts';
import { chromiumPath, type IdentityProvider, startIdentityProvider } from '../helpers/oauth.ts';

// Renewed half-way: a new child on a busy machine can take seconds to read its token file, so
// the tests that ask who a child acts as do not also ask whether its token is still fresh.
const tokenSeconds = 12;
/** The account a stdio child's token file names, expired or not (freshness is the renewal test's). */
const fileAccount = (answer: string) => /^file=([^ ]+)/.exec(answer)?.[1];
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * per-user-oauth through the whole path (docs/upstream-identity.md): people connect their own
 * account at a SaaS's authorization server through the edge's connect page, in a real browser;
 * the edge keeps their tokens sealed in KV, renews them, and forwards them sealed to the bridge,
 * which hands them to an HTTP server (Authorization) and a stdio child (a token file).
 */
describe('per-user OAuth: each person connects their own account once, at the edge', {
  timeout: 300_000,
}, () => {
  let idp: IdentityProvider;
  let saas: SaasAuthorizationServer;
  let whoami: WhoamiServer;
  let gateway: LocalGateway;
  let browser: Browser;
  const tokenKey = randomBytes(32).toString('base64url');
  const bridgeLog: string[] = [];
  const audited: Record<string, unknown>[] = [];
  const answers: string[] = [];
  const clients: Client[] = [];
  const browsers: BrowserContext[] = [];
  const people = {
    alice: { groups: ['viewers'] },
    bob: { groups: ['viewers'] },
    carol: { groups: ['viewers'] },
    mallory: { groups: ['viewers'] },
  };

  beforeAll(async () => {
    const edgePort = await freePort();
    const edge = `http://127.0.0.1:${edgePort}`;
    idp = await startIdentityProvider([edge], people);
    saas = await startSaasAuthorizationServer({ redirectUris: [`${edge}/connect-callback`], tokenSeconds });
    whoami = await startWhoamiServer({ issuer: saas.issuer, jwksUrl: saas.jwksUrl, audience: saas.resource });
    const root = await mkdtemp(join(tmpdir(), 'connected-accounts-'));
    const bridgeConfig = join(root, 'bridge.json');
    const stdio = {
      type: 'stdio',
      command: process.execPath,
      args: [join(repo, 'test/fixtures/whoami-stdio.ts')],
    };
    writeFileSync(
      bridgeConfig,
      JSON.stringify({
        version: 1,
        servers: [
          {
            name: 'saas',
            transport: { type: 'streamable-http', url: whoami.url },
            identity: { mode: 'per-user-oauth' },
          },
          {
            name: 'saas-cli',
            transport: stdio,
            identity: { mode: 'per-user-oauth', stdio: { tokenFileEnv: 'MCP_UPSTREAM_TOKEN_FILE' } },
          },
        ],
      }),
    );
    const documentsDir = join(root, 'servers');
    mkdirSync(documentsDir);
    for (const name of ['saas', 'saas-cli']) {
      const document = {
        version: 1,
        name,
        access: { groups: ['viewers'] },
        identity: {
          mode: 'per-user-oauth',
          issuer: saas.issuer,
          clientId: saas.clientId,
          clientSecretEnv: 'UPSTREAM_OAUTH_SAAS',
          scopes: ['repo'],
          resource: saas.resource,
        },
        policy: { tools: { allow: ['whoami'] } },
      };
      writeFileSync(join(documentsDir, `${name}.json`), JSON.stringify(document));
    }
    gateway = await startLocalGateway({
      bridgeConfig,
      documentsDir,
      edgePort,
      freeBridgePorts: true,
      log: createLogger('debug', {}, (line) => void bridgeLog.push(line)),
      vars: {
        SIGN_IN_ISSUER: idp.issuer,
        SIGN_IN_CLIENT_ID: idp.clientId,
        SIGN_IN_SCOPES: 'openid email groups',
      },
      secrets: {
        SIGN_IN_CLIENT_SECRET: idp.clientSecret,
        UPSTREAM_TOKEN_KEY: tokenKey,
        UPSTREAM_OAUTH_SAAS: saas.clientSecret,
      },
      keys: {
        'alice-key': { principal: 'alice', groups: ['viewers'] },
        'bob-key': { principal: 'bob', groups: ['viewers'] },
        'carol-key': { principal: 'carol', groups: ['viewers'] },
        'mallory-key': { principal: 'mallory', groups: ['viewers'] },
      },
      onAudit: (event) => audited.push(event),
      edge: 'deployed-bundle',
    });
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    for (const context of browsers) await context.close().catch(() => undefined);
    await browser?.close();
    await gateway?.stop();
    await whoami?.stop();
    await saas?.stop();
    await idp?.stop();
  });

  const admin = (...args: string[]) => mcpgw([...args, '--local', '--persist-to', gateway.kvState]);

  const connect = (server: string, key: string) => connectWithKey(gateway.edgeUrl, server, key, clients);

  /** The error a person gets before they have connected: MCP's URLElicitationRequiredError. */
  async function refusedToConnect(
    server: string,
    key: string,
  ): Promise<{ code: number; message: string; url: string }> {
    const client = new Client({ name: 'connected-accounts-test', version: '1' });
    const error = (await client.connect(keyTransport(gateway.edgeUrl, server, key)).then(
      () => {
        throw new Error('connected without an account');
      },
      (e: unknown) => e,
    )) as { code: number; message: string; data?: { elicitations?: { url: string }[] } };
    return { code: error.code, message: error.message, url: error.data?.elicitations?.[0]?.url ?? '' };
  }

  const ask = (client: Client, name?: string) => callText(client, answers, name);

  /** A fresh browser on the connect page, signed in at the organisation's provider as `person`. */
  async function openConnectPage(server: string, person: string): Promise<Page> {
    const context = await browser.newContext();
    browsers.push(context);
    const page = await context.newPage();
    await page.goto(`${gateway.edgeUrl}/connect/${server}`);
    await logIn(page, person);
    return page;
  }

  /** A fresh browser: the connect page, sign-in as `person`, Connect, then the SaaS's login as `account`. */
  async function connectAccount(server: string, person: string, account: string): Promise<void> {
    const page = await openConnectPage(server, person);
    await page.waitForSelector('[data-principal]', { timeout: 20_000 });
    expect(await page.textContent('[data-principal]')).toBe(person);
    await page.click('button[value=connect]');
    await logIn(page, account);
    await allowAtSaas(page);
    await page.waitForSelector('[data-connected]', { timeout: 20_000 });
  }

  /** The SaaS's own consent screen: it asks whether the gateway may act for this account. */
  async function allowAtSaas(page: Page): Promise<void> {
    await page.waitForSelector('text=Authorize', { timeout: 20_000 });
    await page.click('button[type=submit]');
  }

  async function logIn(page: Page, login: string): Promise<void> {
    await page.waitForSelector('input[name=login]', { timeout: 20_000 });
    await page.fill('input[name=login]', login);
    await page.fill('input[name=password]', 'any');
    await page.click('button[type=submit]');
  }

  it('a person who has not connected gets the link to connect, as MCP asks for a URL', async () => {
    const refused = await refusedToConnect('saas', 'alice-key');
    expect(refused.code).toBe(-32042);
    expect(refused.url).toBe(`${gateway.edgeUrl}/connect/saas`);
    expect(refused.message).toContain(`open ${gateway.edgeUrl}/connect/saas in your browser`);
    expect(whoami.refused).toEqual([]);
  });

  it('alice and bob connect their own accounts; 50 calls each at once see only their own, over HTTP and stdio', async () => {
    await connectAccount('saas', 'alice', 'alice-at-saas');
    await connectAccount('saas-cli', 'alice', 'alice-at-saas');
    await connectAccount('saas', 'bob', 'bob-at-saas');
    await connectAccount('saas-cli', 'bob', 'bob-at-saas');
    expect(saas.grants.filter((g) => g === 'authorization_code')).toHaveLength(4);
    const runs = ['alice', 'bob'].flatMap((person) =>
      ['saas', 'saas-cli'].map(async (server) => {
        const client = await connect(server, `${person}-key`);
        const seen: string[] = [];
        for (let batch = 0; batch < 5; batch++)
          seen.push(...(await Promise.all(Array.from({ length: 10 }, () => ask(client)))));
        return { person, server, seen };
      }),
    );
    for (const { person, server, seen } of await Promise.all(runs)) {
      expect(seen).toHaveLength(50);
      const other = person === 'alice' ? 'bob' : 'alice';
      for (const answer of seen) {
        expect(answer, `${person} at ${server}`).not.toContain(other);
        if (server === 'saas') expect(answer).toBe(`${person}-at-saas`);
        else expect(fileAccount(answer)).toBe(`${person}-at-saas`);
      }
    }
    expect(whoami.refused).toEqual([]);
  });

  it('renews a token due for renewal before the next call, without the client noticing', async () => {
    const cli = await connect('saas-cli', 'alice-key');
    const api = await connect('saas', 'alice-key');
    const before = await ask(cli);
    const refreshes = saas.grants.filter((g) => g === 'refresh_token').length;
    await pause((tokenSeconds / 2 + 1) * 1000);
    const after = await ask(cli);
    expect(await ask(api)).toBe('alice-at-saas');
    const expOf = (text: string) => Number(/file=alice-at-saas exp=(\d+)/.exec(text)?.[1]);
    const pidOf = (text: string) => /pid=(\d+)/.exec(text)?.[1];
    // The same child reads a rewritten token file with a later token.
    expect(pidOf(after)).toBe(pidOf(before));
    expect(expOf(after)).toBeGreaterThan(expOf(before));
    expect(after).toMatch(/^file=alice-at-saas exp=/);
    expect(saas.grants.filter((g) => g === 'refresh_token').length).toBeGreaterThan(refreshes);
  });

  it('a 2026-07-28 client (no session) acts as the connected account too; one not connected gets the link', async () => {
    const whoamiAt = async (server: string, key: string) => {
      const client = await modernClient(new URL(`${gateway.edgeUrl}/${server}/mcp`), { token: key });
      try {
        const texts = await Promise.all(
          Array.from({ length: 10 }, async () => {
            const result = await client.callTool({ name: 'whoami', arguments: {} });
            return (result.content as { text: string }[])[0]?.text ?? '';
          }),
        );
        answers.push(...texts);
        return texts;
      } finally {
        await client.close();
      }
    };
    for (const person of ['alice', 'bob']) {
      expect(new Set(await whoamiAt('saas', `${person}-key`))).toEqual(new Set([`${person}-at-saas`]));
      for (const answer of await whoamiAt('saas-cli', `${person}-key`))
        expect(fileAccount(answer)).toBe(`${person}-at-saas`);
    }
    // Not connected: the call is answered with the link. (The SDK 2.x client itself does not get
    // that far: it reads the same refusal of server/discover as a failed version negotiation.)
    const response = await fetch(`${gateway.edgeUrl}/saas/mcp`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer mallory-key',
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'whoami',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: {
          name: 'whoami',
          arguments: {},
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientCapabilities': {},
          },
        },
      }),
    });
    const { error } = (await response.json()) as { error: { code: number; message: string } };
    expect(error.code).toBe(-32042);
    expect(error.message).toContain(`${gateway.edgeUrl}/connect/saas`);
  });

  it('through the portal, a member not yet connected is left out and its call gets the link; once connected, the same session reaches it', async () => {
    const portal = await connect('', 'carol-key');
    expect((await portal.listTools()).tools.map((t) => t.name)).not.toContain('saas__whoami');
    const refused = (await portal
      .callTool({ name: 'saas__whoami', arguments: {} })
      .catch((e: unknown) => e)) as {
      code: number;
      data: { elicitations: { url: string }[] };
    };
    expect(refused.code).toBe(-32042);
    expect(refused.data.elicitations[0]?.url).toBe(`${gateway.edgeUrl}/connect/saas`);
    await connectAccount('saas', 'carol', 'carol-at-saas');
    expect(await ask(portal, 'saas__whoami')).toBe('carol-at-saas');
    expect((await portal.listTools()).tools.map((t) => t.name)).toContain('saas__whoami');
  });

  it('a callback that did not start in this browser links nothing (no one else’s account under your name)', async () => {
    // mallory connects his own account, and keeps the link the SaaS sent his browser back with.
    const page = await openConnectPage('saas', 'mallory');
    let stolen: string | undefined;
    page.on('response', (response) => {
      const location = response.headers().location ?? '';
      // The SaaS sends the browser back with its code (the sign-in's came from the other provider).
      if (response.url().startsWith(saas.issuer) && location.includes('/connect-callback?code='))
        stolen = location;
    });
    await page.waitForSelector('[data-principal]', { timeout: 20_000 });
    await page.click('button[value=connect]');
    await logIn(page, 'mallory-at-saas');
    await allowAtSaas(page);
    await page.waitForSelector('[data-connected]', { timeout: 20_000 });
    expect(stolen).toBeDefined();
    // bob is connecting too, at the SaaS's login page, when mallory gets his browser to open that link.
    const bobPage = await openConnectPage('saas', 'bob');
    await bobPage.waitForSelector('[data-principal]', { timeout: 20_000 });
    await bobPage.click('button[value=connect]');
    await bobPage.waitForSelector('input[name=login]', { timeout: 20_000 });
    const landed = await bobPage.goto(stolen ?? '');
    expect(landed?.status()).toBe(400);
    expect(await landed?.text()).toContain('did not start connecting');
    // Nor does a plain request with no browser at all.
    expect((await fetch(stolen ?? '')).status).toBe(400);
    expect(await ask(await connect('saas', 'bob-key'))).toBe('bob-at-saas');
  });

  it('the person disconnects on the connect page, and mcpgw revokes: the next call gets the link again', async () => {
    const revocations = saas.revocations;
    const page = await openConnectPage('saas', 'alice');
    await page.waitForSelector('[data-existing]', { timeout: 20_000 });
    await page.click('button[value=disconnect]');
    await page.waitForSelector('[data-disconnected]', { timeout: 20_000 });
    expect(saas.revocations).toBeGreaterThan(revocations);
    expect((await refusedToConnect('saas', 'alice-key')).code).toBe(-32042);

    const revoked = await admin('connections', 'revoke', 'bob', 'saas');
    expect(revoked.out).toContain('1 connection(s) of bob revoked');
    expect((await refusedToConnect('saas', 'bob-key')).code).toBe(-32042);
    const listed = (await admin('connections', 'list')).out.split('\n');
    expect(listed).toEqual(expect.arrayContaining(['saas-cli  alice', 'saas-cli  bob', 'saas  mallory']));
    expect(listed).not.toContain('saas  bob');
    expect(listed.join('\n')).not.toMatch(/eyJ/);
    // bob's other connection stays.
    expect(await ask(await connect('saas-cli', 'bob-key'))).toContain('file=bob-at-saas');
  });

  it('no token, secret or key appears in any log, audit line, metric or answer of the run', async () => {
    const everything = await producedByRun(gateway, { bridgeLog, audited, answers });
    const secrets = [...withSignatures(saas.issued), saas.clientSecret, idp.clientSecret, tokenKey];
    expect(saas.issued.length).toBeGreaterThan(8);
    for (const secret of secrets) expect(everything.includes(secret), 'a credential leaked').toBe(false);
    expect(audited.find((e) => e.server === 'saas')).toMatchObject({
      identity: { mode: 'per-user-oauth', subject: expect.any(String) },
    });
    expect(gateway.workerLog()).toContain('"event":"identity.connected"');
  });
});
