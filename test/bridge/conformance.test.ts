import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, repo, startTestBridge, type TestBridge } from '../helpers/bridge.ts';

const run = promisify(execFile);
const suite = join(repo, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

/** The official MCP conformance suite (pinned in package.json), server scenarios, through the bridge. */
describe('MCP conformance suite against the bridge fronting the fixture stdio server', () => {
  let bridge: TestBridge;

  beforeAll(async () => {
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 4 }]);
  });
  afterAll(() => bridge?.drain());

  it('passes every scenario, active and pending', { timeout: 120_000 }, async () => {
    const url = bridge.mcpUrl('fixture').href;
    const result = await run(process.execPath, [suite, 'server', '--url', url, '--suite', 'all'], {
      timeout: 110_000,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, NO_COLOR: '1' },
    }).catch((error: { stdout?: string; stderr?: string; code?: number }) => error);
    const output = `${result.stdout ?? ''}`;
    const summary = output.slice(output.indexOf('=== SUMMARY ==='));
    const passed = summary.split('\n').filter((line) => line.startsWith('✓'));
    const failed = summary.split('\n').filter((line) => line.startsWith('✗'));
    expect(failed, summary).toEqual([]);
    expect(passed.length, summary).toBe(32);
    expect(summary).toMatch(/Total: \d+ passed, 0 failed/);
  });
});
