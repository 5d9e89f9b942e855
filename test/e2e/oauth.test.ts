import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import {
  type Callback,
  type DocumentServer,
  type IdentityProvider,
  selfSignedTls,
  signInInBrowser,
  startCallback,
  startDocumentServer,
  startIdentityProvider,
  TestOAuthClient,
} from '../helpers/oauth.ts';
import { freePort } from '../helpers/process.ts';

const chromiumPath = '/usr/bin/chromium';

/** Servers whose allowlists depend on the groups the identity provider names. */
function writeDocuments(dir: string): void {
  const upstream = { url: 'http://127.0.0.1:1/placeholder' };
  const documents = {
    everything: {
      access: { groups: ['developers', 'readers'] },
      policy: {
        tools: { allow: ['echo'] },
        grants: [{ groups: ['developers'], tools: { allow: ['*'], deny: ['get-env'] } }],
      },
    },
    fetch: { access: { groups: ['developers'] }, policy: { tools: { allow: ['fetch'] } } },
  };
  mkdirSync(join(dir, 'servers'));
  for (const [name, doc] of Object.entries(documents)) {
    writeFileSync(
      join(dir, 'servers', `${name}.json`),
      JSON.stringify({ version: 1, name, upstream, ...doc }),
    );
  }
}

/** Sign in through the SDK's OAuth client and a browser; the client then holds tokens. */
async function signIn(
  mcpUrl: string,
  provider: TestOAuthClient,
  browser: Browser,
  user: string,
  callback: Callback,
): Promise<Client> {
  const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  await expect(new Client({ name: 'oauth-test', version: '1' }).connect(first)).rejects.toThrow(
    UnauthorizedError,
  );
  expect(provider.authorizationUrl).toBeDefined();
  const back = await signInInBrowser(browser, provider.authorizationUrl as URL, user, callback);
  const code = back.searchParams.get('code');
  if (code === null) throw new Error(`no code came back: ${back.search}`);
  await first.finishAuth(code);
  const client = new Client({ name: 'oauth-test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
  return client;
}

const toolNames = async (client: Client) => (await client.listTools()).tools.map((t) => t.name).sort();

describe('OAuth sign-in for hosted MCP clients, through the whole path', { timeout: 180_000 }, () => {
  let gateway: LocalGateway;
  let idp: IdentityProvider;
  let documents: DocumentServer;
  let callback: Callback;
  let browser: Browser;
  const people = { alice: { groups: ['developers', 'readers'] }, bob: { groups: ['readers'] } };
  const clients: Client[] = [];

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oauth-'));
    writeDocuments(dir);
    const tls = selfSignedTls(dir);
    callback = await startCallback();
    documents = await startDocumentServer(tls);
    const edgePort = await freePort();
    idp = await startIdentityProvider(`http://127.0.0.1:${edgePort}`, people);
    gateway = await startLocalGateway({
      edgePort,
      freeBridgePorts: true,
      documentsDir: join(dir, 'servers'),
      vars: {
        SIGN_IN_ISSUER: idp.issuer,
        SIGN_IN_CLIENT_ID: idp.clientId,
        SIGN_IN_SCOPES: 'openid email groups',
        OAUTH_PRIVATE_CLIENT_HOSTS: new URL(documents.origin).host,
      },
      secrets: { SIGN_IN_CLIENT_SECRET: idp.clientSecret },
      wranglerEnv: { NODE_EXTRA_CA_CERTS: tls.certFile },
      log: createLogger('error'),
    });
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  }, 120_000);

  afterAll(async () => {
    for (const client of clients) await client.close().catch(() => undefined);
    await browser?.close();
    await gateway?.stop();
    await idp?.stop();
    await documents?.stop();
    await callback?.stop();
  });

  it('a client with a metadata document signs alice in; her groups decide the tools', async () => {
    const clientId = `${documents.origin}/alice-client.json`;
    const provider = new TestOAuthClient(callback.url, clientId);
    documents.serve('/alice-client.json', { client_id: clientId, ...provider.clientMetadata });
    const client = await signIn(`${gateway.edgeUrl}/everything/mcp`, provider, browser, 'alice', callback);
    clients.push(client);
    const tools = await toolNames(client);
    expect(tools).toContain('echo');
    expect(tools).toContain('get-sum');
    expect(tools).not.toContain('get-env');
    const echoed = await client.callTool({ name: 'echo', arguments: { message: 'hi from alice' } });
    expect(JSON.stringify(echoed.content)).toContain('hi from alice');
    expect(documents.requested).toContain('/alice-client.json');
  });
});
