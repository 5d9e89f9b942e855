import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import { freePort } from '../../scripts/processes.ts';
import { mcpgw } from '../helpers/cli.ts';
import {
  type Callback,
  chromiumPath,
  type DocumentServer,
  type IdentityProvider,
  selfSignedTls,
  signIn,
  signInInBrowser,
  signInOptions,
  startCallback,
  startDocumentServer,
  startIdentityProvider,
  TestOAuthClient,
  toolNames,
  writeOAuthDocuments,
} from '../helpers/oauth.ts';

/** One MCP request with a bearer token, as any client would send it. */
function initialize(url: string, token: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    }),
  });
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

// The bound only catches a hang: one test runs up to six mcpgw commands (each a wrangler start,
// 15 s or more on a starved machine) and two browser sign-ins.
describe('OAuth sign-in for hosted MCP clients, through the whole path', { timeout: 420_000 }, () => {
  let gateway: LocalGateway;
  let idp: IdentityProvider;
  let documents: DocumentServer;
  let callback: Callback;
  let browser: Browser;
  const people = {
    alice: { groups: ['developers', 'readers'] },
    bob: { groups: ['readers'] },
    carol: { groups: ['developers'] },
    // Signs in once: a new sign-in by the same person and client replaces the earlier grant.
    erin: { groups: ['readers'] },
  };
  const clients: Client[] = [];
  const preRegistered = 'test-pre-registered';
  const everythingUrl = () => `${gateway.edgeUrl}/everything/mcp`;
  const admin = (...args: string[]) => mcpgw([...args, '--local', '--persist-to', gateway.kvState]);

  /** An authorization URL built by hand, for the attacks: the pre-registered client's. */
  function authorizeUrl(params: Record<string, string>): URL {
    const url = new URL(`${gateway.edgeUrl}/authorize`);
    const defaults = {
      response_type: 'code',
      client_id: preRegistered,
      redirect_uri: callback.url,
      state: 'state-1',
      resource: everythingUrl(),
    };
    for (const [name, value] of Object.entries({ ...defaults, ...params })) {
      if (value !== '') url.searchParams.set(name, value);
    }
    return url;
  }

  function token(form: Record<string, string>): Promise<Response> {
    return fetch(`${gateway.edgeUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: preRegistered, redirect_uri: callback.url, ...form }),
    });
  }

  interface TokenPair {
    access_token: string;
    refresh_token: string;
    expires_in: number;
  }

  /** A person signs in through the pre-registered client; its code is exchanged with PKCE. */
  async function tokenPair(user: string): Promise<TokenPair> {
    const { verifier, challenge } = pkce();
    const issued = await code(user, challenge);
    const response = await token({
      grant_type: 'authorization_code',
      code: issued,
      code_verifier: verifier,
      resource: everythingUrl(),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as TokenPair;
  }

  async function code(user: string, challenge: string): Promise<string> {
    const url = authorizeUrl({ code_challenge: challenge, code_challenge_method: 'S256' });
    const back = await signInInBrowser(browser, url, user, callback);
    const found = back.searchParams.get('code');
    if (found === null) throw new Error(`no code: ${back.search}`);
    expect(back.searchParams.get('iss'), 'RFC 9207: the issuer the client discovered').toBe(everythingUrl());
    return found;
  }

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oauth-'));
    writeOAuthDocuments(dir);
    const tls = selfSignedTls(dir);
    callback = await startCallback();
    documents = await startDocumentServer(tls);
    const edgePort = await freePort();
    idp = await startIdentityProvider([`http://127.0.0.1:${edgePort}`], people);
    gateway = await startLocalGateway({
      edgePort,
      freeBridgePorts: true,
      documentsDir: join(dir, 'servers'),
      ...signInOptions(
        idp,
        documents,
        tls,
        { client_id: preRegistered, redirect_uris: [callback.url] },
        {
          OAUTH_ACCESS_TOKEN_SECONDS: '60',
        },
      ),
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

  /**
   * A client metadata document shaped as Claude Code's (https://claude.ai/oauth/claude-code-client-metadata):
   * no file extension, and loopback redirect URIs without a port, while the CLI listens on any.
   */
  const hostedShape = (clientId: string, name: string) => ({
    client_id: clientId,
    client_name: name,
    redirect_uris: ['http://localhost/callback', 'http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  });

  it('a client with a metadata document shaped as Claude Code’s signs alice in; her groups decide the tools', async () => {
    const path = '/oauth/claude-code-client-metadata';
    const clientId = `${documents.origin}${path}`;
    const provider = new TestOAuthClient(callback.url, clientId);
    documents.serve(path, hostedShape(clientId, 'Claude Code'));
    const client = await signIn(`${gateway.edgeUrl}/everything/mcp`, provider, browser, 'alice', callback);
    clients.push(client);
    const tools = await toolNames(client);
    expect(tools).toContain('echo');
    expect(tools).toContain('get-sum');
    expect(tools).not.toContain('get-env');
    const echoed = await client.callTool({ name: 'echo', arguments: { message: 'hi from alice' } });
    expect(JSON.stringify(echoed.content)).toContain('hi from alice');
    expect(documents.requested).toContain(path);
  });

  it('takes a client id at the path Codex uses, with its port-less loopback redirect', async () => {
    const path = '/oauth/codex/client.json';
    const clientId = `${documents.origin}${path}`;
    documents.serve(path, hostedShape(clientId, 'Codex'));
    const { challenge } = pkce();
    const consent = await fetch(
      authorizeUrl({ client_id: clientId, code_challenge: challenge, code_challenge_method: 'S256' }),
      { redirect: 'manual' },
    );
    expect(consent.status).toBe(200);
    expect(await consent.text()).toContain('Codex');
    expect(documents.requested).toContain(path);
  });

  /** Issued now, checked by the last test: the 60 s of expiry pass while the others run. */
  let expiring: { tokens: TokenPair; at: number } | undefined;

  it('issues a code for PKCE and a token pair for the code (this one expires in 60 s)', async () => {
    const tokens = await tokenPair('erin');
    // Its 60 s run from when it was issued, which is before now: waiting from now is long enough.
    const at = Date.now();
    expect(tokens.expires_in).toBe(60);
    expect((await initialize(everythingUrl(), tokens.access_token)).status).toBe(200);
    expiring = { tokens, at };
  });
  it('a client that registers itself (DCR) signs bob in; as a reader he sees and calls only echo', async () => {
    const provider = new TestOAuthClient(callback.url);
    const client = await signIn(everythingUrl(), provider, browser, 'bob', callback);
    clients.push(client);
    // A client id of the server's own making, not a URL: the client registered itself.
    expect(provider.clientInformation()?.client_id).toMatch(/^[A-Za-z0-9_-]{8,}$/);
    expect(await toolNames(client)).toEqual(['echo']);
    const denied = await client
      .callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })
      .catch((e: Error) => e);
    expect(String(denied instanceof Error ? denied.message : JSON.stringify(denied))).toMatch(
      /not allowed|denied|-32/i,
    );
  });

  it('signs bob in once for the portal at /mcp: every server he may use, each by its own document', async () => {
    const provider = new TestOAuthClient(callback.url);
    const client = await signIn(`${gateway.edgeUrl}/mcp`, provider, browser, 'bob', callback);
    clients.push(client);
    // A reader: everything's echo only; fetch admits developers only.
    expect(await toolNames(client)).toEqual(['everything__echo']);
    const token = provider.tokens()?.access_token ?? '';
    // The portal's token is for the portal: a server's own URL refuses it.
    expect((await initialize(everythingUrl(), token)).status).toBe(401);
  });

  it('a pre-registered client (OAUTH_CLIENTS) signs carol in without registering', async () => {
    const provider = new TestOAuthClient(callback.url, undefined, { client_id: preRegistered });
    const client = await signIn(everythingUrl(), provider, browser, 'carol', callback);
    clients.push(client);
    expect(await toolNames(client)).toContain('get-sum');
  });

  it('a token is for one MCP server only: another server refuses it', async () => {
    const provider = new TestOAuthClient(callback.url, undefined, { client_id: preRegistered });
    clients.push(await signIn(everythingUrl(), provider, browser, 'carol', callback));
    const accessToken = provider.tokens()?.access_token ?? '';
    expect((await initialize(everythingUrl(), accessToken)).status).toBe(200);
    const other = await initialize(`${gateway.edgeUrl}/fetch/mcp`, accessToken);
    expect(other.status).toBe(401);
    expect(other.headers.get('www-authenticate')).toContain(
      '/.well-known/oauth-protected-resource/fetch/mcp',
    );
  });

  it('a person the server does not admit gets no grant for it: access_denied, saying why', async () => {
    const { challenge } = pkce();
    const url = authorizeUrl({
      resource: `${gateway.edgeUrl}/fetch/mcp`,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const back = await signInInBrowser(browser, url, 'bob', callback);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('error_description')).toBe('bob may not use "fetch"');
    expect(back.searchParams.get('iss')).toBe(`${gateway.edgeUrl}/fetch/mcp`);
    expect(back.searchParams.get('code')).toBeNull();
  });

  it('the person can deny: the client gets access_denied and no code', async () => {
    const { challenge } = pkce();
    const url = authorizeUrl({ code_challenge: challenge, code_challenge_method: 'S256' });
    const back = await signInInBrowser(browser, url, 'alice', callback, 'deny');
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('code')).toBeNull();
  });

  it('refuses a wrong redirect URI on a page of its own, without redirecting anywhere', async () => {
    const { challenge } = pkce();
    const url = authorizeUrl({
      redirect_uri: 'https://attacker.example/cb',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toMatch(/redirect/i);
  });

  it('refuses a request without PKCE, or with plain PKCE: back to the client with an error, no code', async () => {
    const withoutS256: Record<string, string>[] = [
      {},
      { code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' },
    ];
    for (const params of withoutS256) {
      const response = await fetch(authorizeUrl(params), { redirect: 'manual' });
      expect(response.status).toBe(302);
      const location = new URL(response.headers.get('location') ?? '');
      expect(location.href.startsWith(callback.url)).toBe(true);
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('code')).toBeNull();
    }
  });

  it('a code needs its PKCE verifier and works once', async () => {
    const { verifier, challenge } = pkce();
    const issued = await code('carol', challenge);
    const resource = everythingUrl();
    const wrongVerifiers: Record<string, string>[] = [{}, { code_verifier: pkce().verifier }];
    for (const wrong of wrongVerifiers) {
      const refused = await token({ grant_type: 'authorization_code', code: issued, resource, ...wrong });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toMatch(/invalid_grant|invalid_request/);
    }
    const again = await code('carol', challenge);
    const first = await token({
      grant_type: 'authorization_code',
      code: again,
      code_verifier: verifier,
      resource,
    });
    expect(first.status).toBe(200);
    const tokens = (await first.json()) as { access_token: string; refresh_token: string };
    expect((await initialize(resource, tokens.access_token)).status).toBe(200);
    const reused = await token({
      grant_type: 'authorization_code',
      code: again,
      code_verifier: verifier,
      resource,
    });
    expect(reused.status).toBe(400);
    expect(((await reused.json()) as { error: string }).error).toBe('invalid_grant');
  });

  it('refuses a client metadata document at a private address, without fetching it', async () => {
    const port = new URL(documents.origin).port;
    const before = documents.requested.length;
    for (const clientId of [
      `https://localhost:${port}/alice-client.json`,
      'https://10.0.0.8/client.json',
      'https://[::1]/client.json',
      'https://169.254.169.254/latest/meta-data.json',
    ]) {
      const { challenge } = pkce();
      const response = await fetch(
        authorizeUrl({ client_id: clientId, code_challenge: challenge, code_challenge_method: 'S256' }),
        {
          redirect: 'manual',
        },
      );
      expect(response.status).toBe(400);
      expect(await response.text()).toMatch(/private or reserved address/);
      const viaToken = await token({ grant_type: 'authorization_code', code: 'x', client_id: clientId });
      expect(viaToken.status).toBe(400);
      expect(((await viaToken.json()) as { error: string }).error).toBe('invalid_client');
    }
    expect(documents.requested.length).toBe(before);
  });

  it('refuses a huge client metadata document, and issues nothing', async () => {
    const clientId = `${documents.origin}/huge.json`;
    documents.serve(
      '/huge.json',
      JSON.stringify({
        client_id: clientId,
        client_name: 'x'.repeat(200_000),
        redirect_uris: [callback.url],
      }),
    );
    const { challenge } = pkce();
    const response = await fetch(
      authorizeUrl({ client_id: clientId, code_challenge: challenge, code_challenge_method: 'S256' }),
      {
        redirect: 'manual',
      },
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toMatch(/metadata document/);
    expect(documents.requested).toContain('/huge.json');
  });

  it('an admin removes a group, then revokes the person: each takes effect at the next request', async () => {
    const provider = new TestOAuthClient(callback.url, undefined, { client_id: preRegistered });
    const client = await signIn(everythingUrl(), provider, browser, 'alice', callback);
    clients.push(client);
    expect(await toolNames(client)).toContain('get-sum');

    const shown = await admin('principals', 'show', 'alice');
    expect(shown.out).toMatch(/alice\s+\[developers,readers\]/);
    expect(shown.out).toContain(preRegistered);
    expect((await admin('principals', 'remove-group', 'alice', 'developers')).code).toBe(0);
    expect(await toolNames(client)).toEqual(['echo']);

    const revoked = await admin('principals', 'revoke', 'alice');
    expect(revoked.code).toBe(0);
    expect(revoked.out).toMatch(/REVOKED/);
    const refused = await initialize(everythingUrl(), provider.tokens()?.access_token ?? '');
    expect(refused.status).toBe(401);
    expect((await admin('grants', 'list', 'alice')).out).toContain('no grants for alice');

    const { challenge } = pkce();
    const back = await signInInBrowser(
      browser,
      authorizeUrl({ code_challenge: challenge, code_challenge_method: 'S256' }),
      'alice',
      callback,
    );
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('code')).toBeNull();
  });

  it('revoking one grant ends that client’s tokens, refresh token included', async () => {
    const resource = everythingUrl();
    const tokens = await tokenPair('bob');
    const listed = await admin('grants', 'list', 'bob');
    const grantId = tokens.access_token.split(':')[1] ?? '';
    expect(listed.out).toContain(grantId);
    const revoked = await admin('grants', 'revoke', 'bob', grantId);
    // What mcpgw said, when it fails: one full run saw exit code 2 here, without a word in the log.
    expect(revoked.code, `${grantId}\n${listed.out}\n${revoked.out}${revoked.err}`).toBe(0);
    expect((await initialize(resource, tokens.access_token)).status).toBe(401);
    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(refreshed.status).toBe(400);
  });

  it('the access token from the start has expired; its refresh token rotates, and the old one is then refused', async () => {
    if (expiring === undefined) throw new Error('the token pair was not issued');
    const { tokens, at } = expiring;
    const resource = everythingUrl();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, at + 62_000 - Date.now())));
    expect((await initialize(resource, tokens.access_token)).status).toBe(401);
    const refreshed = await token({
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      resource,
    });
    expect(refreshed.status).toBe(200);
    const next = (await refreshed.json()) as { access_token: string; refresh_token: string };
    expect(next.refresh_token).not.toBe(tokens.refresh_token);
    expect((await initialize(resource, next.access_token)).status).toBe(200);
    // The previous refresh token survives until its successor is used (a lost response is not
    // a lost grant); once the successor is used, the first one is refused.
    const third = await token({ grant_type: 'refresh_token', refresh_token: next.refresh_token, resource });
    expect(third.status).toBe(200);
    const replayed = await token({
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      resource,
    });
    expect(replayed.status).toBe(400);
  }, 90_000);
});
