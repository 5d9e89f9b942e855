import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import { freePort } from '../../scripts/processes.ts';
import { claudeDesktop } from '../../shared/registry/client-configs.ts';
import { connect, everythingServer, fixtureServer, repo } from '../helpers/bridge.ts';

const run = promisify(execFile);
const bin = (name: string) => join(repo, 'node_modules/.bin', name);

/**
 * Real clients through the whole path (client → the Worker as deployed, its bundle in workerd
 * → signed → bridge → stdio server): the MCP Inspector CLI, mcp-remote as Claude Desktop runs it, an SDK client
 * with a JWT from a local OIDC issuer, and the official conformance suite.
 */
describe('real MCP clients through edge and bridge', { timeout: 180_000 }, () => {
  let gateway: LocalGateway;
  let jwks: Server;
  let signJwt: (claims: Record<string, unknown>, audience: string) => Promise<string>;
  const issuer = 'https://login.test/';
  const url = (server: string) => `${gateway.edgeUrl}/${server}/mcp`;

  async function startIssuer(): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
    );
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    signJwt = (claims, audience) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
    return `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  }

  async function setup(dir: string) {
    await mkdir(join(dir, 'servers'));
    const bridgeConfig = join(dir, 'bridge.json');
    writeFileSync(
      bridgeConfig,
      JSON.stringify({
        version: 1,
        servers: [
          {
            name: 'everything',
            transport: { type: 'stdio', command: process.execPath, args: [everythingServer, 'stdio'] },
          },
          {
            name: 'fixture',
            transport: { type: 'stdio', command: process.execPath, args: [fixtureServer] },
            pool: 4,
          },
        ],
      }),
    );
    const documents = {
      everything: {
        access: { groups: ['developers'] },
        policy: { tools: { allow: ['*'], deny: ['get-env'] } },
      },
      // The conformance suite sends no credentials.
      fixture: {
        access: { anonymous: true },
        policy: { tools: { allow: ['*'] }, prompts: { allow: ['*'] }, resources: { allow: ['*'] } },
      },
    };
    for (const [name, doc] of Object.entries(documents))
      writeFileSync(join(dir, 'servers', `${name}.json`), JSON.stringify({ version: 1, name, ...doc }));
    return bridgeConfig;
  }

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clients-'));
    const jwksUrl = await startIssuer();
    gateway = await startLocalGateway({
      bridgeConfig: await setup(dir),
      documentsDir: join(dir, 'servers'),
      edgePort: await freePort(),
      freeBridgePorts: true,
      vars: { OIDC_ISSUER: issuer, OIDC_JWKS_URL: jwksUrl },
      log: createLogger('error'),
      edge: 'deployed-bundle',
    });
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await new Promise((resolve) => jwks?.close(resolve));
  });

  /** The Inspector CLI against `everything` (or `at`) with this key; the bound only catches a hang. */
  const inspectorWith =
    (key: string, at?: string) =>
    (...args: string[]) =>
      run(
        bin('mcp-inspector'),
        [
          '--cli',
          at ?? url('everything'),
          '--transport',
          'http',
          '--header',
          `Authorization: Bearer ${key}`,
          ...args,
        ],
        { timeout: 60_000 },
      );

  it('the MCP Inspector CLI lists tools and calls one with a bearer header', async () => {
    const inspector = inspectorWith(gateway.apiKey);
    const listed = JSON.parse((await inspector('--method', 'tools/list')).stdout) as {
      tools: { name: string }[];
    };
    const names = listed.tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names).not.toContain('get-env');
    const called = JSON.parse(
      (
        await inspector(
          '--method',
          'tools/call',
          '--tool-name',
          'echo',
          '--tool-arg',
          'message=from the inspector',
        )
      ).stdout,
    );
    expect(called.content).toEqual([{ type: 'text', text: 'Echo: from the inspector' }]);
  });

  it('mcp-remote, started exactly as the printed Claude Desktop entry says, serves an SDK client over stdio', async () => {
    const entry = JSON.parse(
      claudeDesktop({ name: 'everything', url: url('everything'), token: gateway.apiKey }),
    ).mcpServers.everything as { command: string; args: string[]; env: Record<string, string> };
    expect(entry.command).toBe('npx');
    const [, pinnedPackage, ...args] = entry.args; // ['-y', 'mcp-remote@…', url, …]
    expect(pinnedPackage).toMatch(/^mcp-remote@\d/);
    const home = await mkdtemp(join(tmpdir(), 'mcp-remote-home-'));
    const client = new Client({ name: 'claude-desktop-stand-in', version: '1' });
    await client.connect(
      new StdioClientTransport({
        command: bin('mcp-remote'),
        args,
        env: { PATH: process.env.PATH ?? '', HOME: home, MCP_REMOTE_CONFIG_DIR: home, ...entry.env },
        stderr: 'ignore',
      }),
    );
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('echo');
      expect(names).not.toContain('get-env');
      const result = await client.callTool({ name: 'echo', arguments: { message: 'via mcp-remote' } });
      expect(result.content).toEqual([{ type: 'text', text: 'Echo: via mcp-remote' }]);
    } finally {
      await client.close();
    }
  });

  it('the portal (/mcp) through the Inspector CLI and through mcp-remote from the printed Claude Desktop entry', async () => {
    const portal = `${gateway.edgeUrl}/mcp`;
    const inspector = inspectorWith(gateway.apiKey, portal);
    const listed = JSON.parse((await inspector('--method', 'tools/list')).stdout) as {
      tools: { name: string }[];
    };
    expect(listed.tools.map((t) => t.name)).toContain('everything__echo');
    expect(listed.tools.map((t) => t.name)).not.toContain('everything__get-env');
    const denied = await inspector('--method', 'tools/call', '--tool-name', 'everything__get-env').then(
      (r) => r.stdout,
      (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
    // The Inspector checks the name against the list first: a hidden tool is not found, never run.
    expect(denied).toMatch(/"code":"tool_not_found"|is not permitted for you/);
    const entry = JSON.parse(claudeDesktop({ name: 'gateway', url: portal, token: gateway.apiKey }))
      .mcpServers.gateway as { args: string[]; env: Record<string, string> };
    const home = await mkdtemp(join(tmpdir(), 'mcp-remote-home-'));
    const client = new Client({ name: 'claude-desktop-stand-in', version: '1' });
    await client.connect(
      new StdioClientTransport({
        command: bin('mcp-remote'),
        args: entry.args.slice(2),
        env: { PATH: process.env.PATH ?? '', HOME: home, MCP_REMOTE_CONFIG_DIR: home, ...entry.env },
        stderr: 'ignore',
      }),
    );
    try {
      const result = await client.callTool({ name: 'everything__echo', arguments: { message: 'one url' } });
      expect(result.content).toEqual([{ type: 'text', text: 'Echo: one url' }]);
    } finally {
      await client.close();
    }
  });

  it('a person with a wrong key is told so by the Inspector CLI and by mcp-remote, and neither waits for a sign-in', async () => {
    const refusedKey = 'mcpgw_mistyped_key';
    const failed = (error: { code?: number; killed?: boolean; stdout?: string; stderr?: string }) => ({
      code: error.code,
      killed: error.killed,
      said: `${error.stdout ?? ''}${error.stderr ?? ''}`,
    });
    const inspector = await inspectorWith(refusedKey)('--method', 'tools/list').then(
      () => ({ code: 0, killed: false, said: '' }),
      failed,
    );
    const entry = JSON.parse(claudeDesktop({ name: 'everything', url: url('everything'), token: refusedKey }))
      .mcpServers.everything as { args: string[]; env: Record<string, string> };
    const home = await mkdtemp(join(tmpdir(), 'mcp-remote-home-'));
    const remote = await run(bin('mcp-remote'), entry.args.slice(2), {
      timeout: 60_000,
      env: { PATH: process.env.PATH ?? '', HOME: home, MCP_REMOTE_CONFIG_DIR: home, ...entry.env },
    }).then(() => ({ code: 0, killed: false, said: '' }), failed);
    for (const client of [inspector, remote]) {
      expect(client.killed, client.said).toBe(false);
      expect(client.code, client.said).not.toBe(0);
      expect(client.said).toContain('this API key is not one this gateway issued');
      expect(client.said).not.toMatch(/authorize this client|requires a TTY/i);
    }
  });

  it('an SDK client with a JWT from the organisation’s issuer: its groups decide; another audience is refused', async () => {
    const token = await signJwt({ sub: 'carol', groups: ['developers'] }, url('everything'));
    const client = await connect(new URL(url('everything')), 'jwt-client', token);
    expect((await client.callTool({ name: 'echo', arguments: { message: 'jwt' } })).content).toEqual([
      { type: 'text', text: 'Echo: jwt' },
    ]);
    await client.close();
    const pingWith = (token: string) =>
      fetch(url('everything'), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
    const forFixture = await signJwt({ sub: 'carol', groups: ['developers'] }, url('fixture'));
    expect((await pingWith(forFixture)).status).toBe(401);
    const viewer = await signJwt({ sub: 'vic', groups: ['viewers'] }, url('everything'));
    expect((await pingWith(viewer)).status).toBe(403);
  });

  it('passes the official conformance suite through both hops: every scenario, as against the fixture directly', async () => {
    const suite = join(repo, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
    const result = await run(process.execPath, [suite, 'server', '--url', url('fixture'), '--suite', 'all'], {
      timeout: 150_000,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, NO_COLOR: '1' },
    }).catch((error: { stdout?: string }) => error);
    const output = `${result.stdout ?? ''}`;
    const summary = output.slice(output.indexOf('=== SUMMARY ==='));
    const failed = summary.split('\n').filter((line) => line.startsWith('✗'));
    expect(failed, summary).toEqual([]);
    expect(summary.split('\n').filter((line) => line.startsWith('✓')).length, summary).toBe(32);
  });
});
