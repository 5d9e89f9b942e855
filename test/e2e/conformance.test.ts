import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import { freePort } from '../../scripts/processes.ts';
import { nativeServer } from '../fixtures/native.ts';
import { repo } from '../helpers/bridge.ts';
import { withOneMore } from '../helpers/gateway-files.ts';

const run = promisify(execFile);
/** The first published suite with 2026-07-28 scenarios (an alpha, pinned exactly in package.json). */
const modernSuite = join(repo, 'node_modules/@modelcontextprotocol/conformance-next/dist/index.js');
/** The suite of 2025-11-25 (pinned in package.json). */
const legacySuite = join(repo, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const fixtures = join(repo, 'test/fixtures/conformance');

/**
 * The official conformance suites' server scenarios through the Worker and the bridge: 2026-07-28
 * at the fixture's own URL, and both revisions at a portal whose member is the fixture.
 */
describe('MCP conformance through the whole path', { timeout: 300_000 }, () => {
  let gateway: LocalGateway;
  const native = nativeServer();

  beforeAll(async () => {
    await new Promise<void>((resolve) => native.server.listen(0, '127.0.0.1', resolve));
    const { port } = native.server.address() as AddressInfo;
    gateway = await startLocalGateway({
      // The fixture (stdio, translated by the bridge) and a server that speaks 2026-07-28 itself.
      ...(await withOneMore(
        { bridgeConfig: join(fixtures, 'bridge.yaml'), documentsDir: join(fixtures, 'servers') },
        { name: 'native', transport: { type: 'streamable-http', url: `http://127.0.0.1:${port}/mcp` } },
        JSON.parse(readFileSync(join(fixtures, 'servers/conformance.json'), 'utf8')),
      )),
      edgePort: await freePort(),
      freeBridgePorts: true,
      log: createLogger('error'),
      // The Worker as `wrangler deploy` uploads it, in workerd: it starts sooner than wrangler dev.
      edge: 'deployed-bundle',
    });
  }, 120_000);
  afterAll(async () => {
    await gateway?.stop();
    await native.handler.close();
    await new Promise((resolve) => native.server.close(resolve));
  });

  /** One suite's run against one server's URL at the edge: what it printed, pass or fail. */
  const suite = (program: string, server: string, options: string[]) => {
    const args = [program, 'server', '--url', `${gateway.edgeUrl}/${server}/mcp`, ...options];
    return run(process.execPath, args, {
      timeout: 280_000,
      maxBuffer: 32 * 1024 * 1024,
      env: { ...process.env, NO_COLOR: '1' },
    }).then(
      (result) => result.stdout,
      (error: { stdout?: string }) => `${error.stdout ?? ''}`,
    );
  };
  const conformance = (server: string, ...selection: string[]) =>
    suite(modernSuite, server, ['--spec-version', '2026-07-28', ...selection]);
  const legacy = (server: string) => suite(legacySuite, server, ['--suite', 'all']);

  const expectAllPassed = (output: string, scenarios?: number) => {
    const summary = output.slice(output.indexOf('=== SUMMARY ==='));
    const failed = summary.split('\n').filter((line) => line.startsWith('✗'));
    // Which check failed, not only which scenario: a failure seen once must be readable from the log.
    const checks = output.split('\n').filter((line) => line.includes('FAILURE'));
    expect(failed, [summary, ...checks].join('\n')).toEqual([]);
    expect(summary).toMatch(/Total: \d+ passed, 0 failed/);
    if (scenarios !== undefined) {
      expect(summary.split('\n').filter((line) => line.startsWith('✓')).length, summary).toBe(scenarios);
    }
  };

  it('passes every 2026-07-28 scenario, active and pending', async () => {
    expectAllPassed(await conformance('conformance', '--suite', 'all'));
  });

  it('passes every 2026-07-28 scenario at a portal whose member is the fixture', async () => {
    expectAllPassed(await conformance('conformance-portal', '--suite', 'all'));
  });

  it('passes every 2025-11-25 scenario at a portal whose member is the fixture', async () => {
    expectAllPassed(await legacy('conformance-portal'), 32);
  });

  it('passes server-stateless against a Streamable HTTP server that speaks 2026-07-28 itself', async () => {
    const output = await conformance('native', '--scenario', 'server-stateless');
    const failed = output.split('\n').filter((line) => line.includes('FAILURE'));
    expect(failed, output.slice(-4000)).toEqual([]);
    expect(output).toMatch(/Passed: (\d+)\/\1, 0 failed/);
  });
});
