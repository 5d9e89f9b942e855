import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type OAuthClientProvider, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import type { Browser } from 'playwright-core';
import { expect } from 'vitest';

import type { IdentityProvider } from '../../scripts/demo-identity-provider.ts';

export {
  type IdentityProvider,
  type Person,
  startDemoIdentityProvider as startIdentityProvider,
} from '../../scripts/demo-identity-provider.ts';

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export interface Tls {
  cert: string;
  key: string;
  /** For NODE_EXTRA_CA_CERTS: workerd then trusts this certificate. */
  certFile: string;
}

/** A self-signed certificate for 127.0.0.1, made for this test run (client metadata must be https). */
export function selfSignedTls(dir: string): Tls {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1', '-addext', 'basicConstraints=critical,CA:TRUE'],
    ],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile };
}

export interface DocumentServer {
  origin: string;
  /** Paths requested so far. */
  requested: string[];
  /** Publish a document (an object as JSON, a string as it is) at this path. */
  serve(path: string, document: unknown): void;
  stop(): Promise<void>;
}

/** Serves client metadata documents over https, as a hosted MCP client publishes its own. */
export async function startDocumentServer(tls: Tls): Promise<DocumentServer> {
  const requested: string[] = [];
  const documents: Record<string, unknown> = {};
  const server = createHttpsServer({ cert: tls.cert, key: tls.key }, (request, response) => {
    requested.push(request.url ?? '');
    const document = documents[request.url ?? ''];
    if (document === undefined) return response.writeHead(404).end();
    const body = typeof document === 'string' ? document : JSON.stringify(document);
    response.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  const origin = `https://${await listen(server)}`;
  return {
    origin,
    requested,
    serve: (path, document) => {
      documents[path] = document;
    },
    stop: () => close(server),
  };
}

export interface Callback {
  url: string;
  /** The next redirect the browser brings back to the client. */
  next(): Promise<URL>;
  stop(): Promise<void>;
}

/** The MCP client's own redirect URI: a loopback listener, as native clients use (RFC 8252). */
export async function startCallback(): Promise<Callback> {
  let waiting: ((url: URL) => void) | undefined;
  const arrived: URL[] = [];
  const server = createHttpServer((request, response) => {
    const url = new URL(request.url ?? '/', `http://${request.headers.host}`);
    if (url.pathname !== '/callback') return response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'text/plain' }).end('You may close this window.');
    if (waiting) waiting(url);
    else arrived.push(url);
    waiting = undefined;
  });
  const url = `http://${await listen(server)}/callback`;
  return {
    url,
    next: () => {
      const first = arrived.shift();
      return first ? Promise.resolve(first) : new Promise((resolve) => (waiting = resolve));
    },
    stop: () => close(server),
  };
}

/** The SDK's OAuth client side, remembering what it is given, as a real client's store would. */
export class TestOAuthClient implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  private information: OAuthClientInformationMixed | undefined;
  private stored: OAuthTokens | undefined;
  private verifier = '';

  private readonly callback: string;
  readonly clientMetadataUrl: string | undefined;

  constructor(callback: string, clientMetadataUrl?: string, information?: OAuthClientInformationMixed) {
    this.callback = callback;
    this.clientMetadataUrl = clientMetadataUrl;
    this.information = information;
  }

  get redirectUrl(): string {
    return this.callback;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'Test MCP client',
      redirect_uris: [this.callback],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  clientInformation() {
    return this.information;
  }
  saveClientInformation(information: OAuthClientInformationMixed) {
    this.information = information;
  }
  tokens() {
    return this.stored;
  }
  saveTokens(tokens: OAuthTokens) {
    this.stored = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/**
 * A person in a fresh browser: the gateway's consent page (Allow), then the identity provider's
 * login page. Resolves with the URL the browser was finally sent to on the client's side.
 */
export async function signInInBrowser(
  browser: Browser,
  authorizationUrl: URL,
  user: string,
  callback: Callback,
  decision: 'allow' | 'deny' = 'allow',
): Promise<URL> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const arrived = callback.next();
    await page.goto(authorizationUrl.href);
    await page.click(`button[value=${decision}]`);
    if (decision === 'allow') {
      await page.waitForSelector('input[name=login]', { timeout: 20_000 });
      await page.fill('input[name=login]', user);
      await page.fill('input[name=password]', 'any');
      await page.click('button[type=submit]');
    }
    return await arrived;
  } finally {
    await context.close();
  }
}

export const chromiumPath = '/usr/bin/chromium';

/** Servers whose allowlists depend on the groups the identity provider names. */
export function writeOAuthDocuments(dir: string): void {
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
    writeFileSync(join(dir, 'servers', `${name}.json`), JSON.stringify({ version: 1, name, ...doc }));
  }
}

/** Sign in through the SDK's OAuth client and a browser; the client then holds tokens. */
export async function signIn(
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

export const toolNames = async (client: Client) => (await client.listTools()).tools.map((t) => t.name).sort();

/**
 * What startLocalGateway needs for sign-in against this provider: its issuer and client, a
 * pre-registered client, and trust in the test's https document server (private, on 127.0.0.1).
 */
export function signInOptions(
  idp: IdentityProvider,
  documents: DocumentServer,
  tls: Tls,
  preRegistered: { client_id: string; redirect_uris: string[] },
  vars: Record<string, string> = {},
) {
  return {
    vars: {
      SIGN_IN_ISSUER: idp.issuer,
      SIGN_IN_CLIENT_ID: idp.clientId,
      SIGN_IN_SCOPES: 'openid email groups',
      OAUTH_PRIVATE_CLIENT_HOSTS: new URL(documents.origin).host,
      OAUTH_CLIENTS: JSON.stringify([{ ...preRegistered, client_name: 'Registered by an admin' }]),
      ...vars,
    },
    secrets: { SIGN_IN_CLIENT_SECRET: idp.clientSecret },
    wranglerEnv: { NODE_EXTRA_CA_CERTS: tls.certFile },
  };
}
