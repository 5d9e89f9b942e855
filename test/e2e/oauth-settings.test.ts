import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import { freePort } from '../../scripts/processes.ts';
import {
  type Callback,
  chromiumPath,
  type DocumentServer,
  type IdentityProvider,
  selfSignedTls,
  signIn,
  signInOptions,
  startCallback,
  startDocumentServer,
  startIdentityProvider,
  TestOAuthClient,
  type Tls,
  toolNames,
  writeOAuthDocuments,
} from '../helpers/oauth.ts';

/**
 * The admin's switches, each on a gateway of its own: client metadata documents off (clients
 * fall back to registering themselves), and dynamic registration off (a clear error for a
 * client that has no other way; pre-registered clients still sign in).
 */
describe('OAuth sign-in with client metadata documents or registration turned off', {
  timeout: 180_000,
}, () => {
  let dir: string;
  let idp: IdentityProvider;
  let documents: DocumentServer;
  let callback: Callback;
  let browser: Browser;
  let tls: Tls;
  const admins = { client_id: 'admin-registered', redirect_uris: [] as string[] };
  const ports: number[] = [];
  const gateways: LocalGateway[] = [];
  const clients: Client[] = [];
  const people = { dave: { groups: ['developers'] } };

  async function gateway(index: number, vars: Record<string, string>): Promise<LocalGateway> {
    const started = await startLocalGateway({
      edgePort: ports[index],
      freeBridgePorts: true,
      documentsDir: join(dir, 'servers'),
      ...signInOptions(idp, documents, tls, admins, vars),
      log: createLogger('error'),
    });
    gateways.push(started);
    return started;
  }

  /** A client that would rather use its metadata document, and can register itself. */
  function cimdClient(): TestOAuthClient {
    const clientId = `${documents.origin}/client.json`;
    const provider = new TestOAuthClient(callback.url, clientId);
    documents.serve('/client.json', { client_id: clientId, ...provider.clientMetadata });
    return provider;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oauth-settings-'));
    writeOAuthDocuments(dir);
    tls = selfSignedTls(dir);
    callback = await startCallback();
    admins.redirect_uris.push(callback.url);
    documents = await startDocumentServer(tls);
    ports.push(await freePort(), await freePort());
    idp = await startIdentityProvider(
      ports.map((port) => `http://127.0.0.1:${port}`),
      people,
    );
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) await client.close().catch(() => undefined);
    await browser?.close();
    for (const started of gateways) await started.stop();
    await idp?.stop();
    await documents?.stop();
    await callback?.stop();
  });

  it('metadata documents off: not advertised, and the client registers itself instead', async () => {
    const edge = await gateway(0, { OAUTH_CLIENT_METADATA_DOCUMENTS: 'off' });
    const metadata = (await (
      await fetch(`${edge.edgeUrl}/.well-known/oauth-authorization-server/everything/mcp`)
    ).json()) as Record<string, unknown>;
    expect(metadata.client_id_metadata_document_supported).toBe(false);
    expect(metadata.registration_endpoint).toBe(`${edge.edgeUrl}/oauth/register`);
    const provider = cimdClient();
    const client = await signIn(`${edge.edgeUrl}/everything/mcp`, provider, browser, 'dave', callback);
    clients.push(client);
    expect(provider.clientInformation()?.client_id).not.toBe(provider.clientMetadataUrl);
    expect(await toolNames(client)).toContain('get-sum');
    expect(documents.requested).toEqual([]);
  });

  it('registration off: no endpoint, a clear error for a client with no other way, admins’ clients work', async () => {
    const edge = await gateway(1, { OAUTH_DYNAMIC_REGISTRATION: 'off' });
    const metadata = (await (
      await fetch(`${edge.edgeUrl}/.well-known/oauth-authorization-server/everything/mcp`)
    ).json()) as Record<string, unknown>;
    expect(metadata.registration_endpoint).toBeUndefined();
    expect(metadata.client_id_metadata_document_supported).toBe(true);
    const register = await fetch(`${edge.edgeUrl}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [callback.url] }),
    });
    expect(register.status).toBe(404);
    expect(((await register.json()) as { error_description: string }).error_description).toMatch(
      /registration is turned off/,
    );

    const mcpUrl = new URL(`${edge.edgeUrl}/everything/mcp`);
    const unregistered = new TestOAuthClient(callback.url);
    const failed = await new Client({ name: 'no-way-in', version: '1' })
      .connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: unregistered }))
      .catch((error: Error) => error);
    expect(String(failed)).toMatch(/does not support dynamic client registration/);
    expect(unregistered.authorizationUrl).toBeUndefined();

    const viaDocument = await signIn(mcpUrl.href, cimdClient(), browser, 'dave', callback);
    clients.push(viaDocument);
    expect(await toolNames(viaDocument)).toContain('echo');
    const provider = new TestOAuthClient(callback.url, undefined, { client_id: 'admin-registered' });
    const client = await signIn(mcpUrl.href, provider, browser, 'dave', callback);
    clients.push(client);
    expect(await toolNames(client)).toContain('get-sum');
  });
});
