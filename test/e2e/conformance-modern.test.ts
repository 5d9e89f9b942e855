import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import { repo } from '../helpers/bridge.ts';
import { freePort } from '../helpers/process.ts';

const run = promisify(execFile);
/** The first published suite with 2026-07-28 scenarios (an alpha, pinned exactly in package.json). */
const suite = join(repo, 'node_modules/@modelcontextprotocol/conformance-next/dist/index.js');
const fixtures = join(repo, 'test/fixtures/conformance');

/** The official conformance suite's 2026-07-28 server scenarios, through the Worker and the bridge. */
describe('MCP conformance (2026-07-28) through the whole path', { timeout: 300_000 }, () => {
  let gateway: LocalGateway;

  beforeAll(async () => {
    gateway = await startLocalGateway({
      edgePort: await freePort(),
      freeBridgePorts: true,
      bridgeConfig: join(fixtures, 'bridge.yaml'),
      documentsDir: join(fixtures, 'servers'),
      log: createLogger('error'),
    });
  }, 120_000);
  afterAll(() => gateway?.stop());

  it('passes every 2026-07-28 scenario, active and pending', async () => {
    const url = `${gateway.edgeUrl}/conformance/mcp`;
    const args = [suite, 'server', '--url', url, '--spec-version', '2026-07-28', '--suite', 'all'];
    const result = await run(process.execPath, args, {
      timeout: 280_000,
      maxBuffer: 32 * 1024 * 1024,
      env: { ...process.env, NO_COLOR: '1' },
    }).catch((error: { stdout?: string; stderr?: string }) => error);
    const output = `${result.stdout ?? ''}`;
    const summary = output.slice(output.indexOf('=== SUMMARY ==='));
    const failed = summary.split('\n').filter((line) => line.startsWith('✗'));
    expect(failed, summary).toEqual([]);
    expect(summary).toMatch(/Total: \d+ passed, 0 failed/);
  });
});
