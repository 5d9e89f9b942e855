import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { repo, until } from '../helpers/bridge.ts';
import { chromiumPath, signIn, startCallback, TestOAuthClient, toolNames } from '../helpers/oauth.ts';
import { alive, freePort } from '../helpers/process.ts';

function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

/** What a hosted client does against npm start: sign in at the demo identity provider, list tools. */
async function signInAsAlice(url: string): Promise<void> {
  const callback = await startCallback();
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  try {
    const client = await signIn(url, new TestOAuthClient(callback.url), browser, 'alice', callback);
    const tools = await toolNames(client);
    expect(tools).toContain('echo');
    expect(tools).not.toContain('get-env');
    await client.close();
  } finally {
    await browser.close();
    await callback.stop();
  }
}

/** `npm start` as a new user runs it, and Ctrl-C (SIGINT to its process group) as a terminal sends it. */
describe('npm start', { timeout: 150_000 }, () => {
  let npm: ChildProcess | undefined;
  let output = '';

  afterAll(() => {
    if (npm?.pid === undefined || npm.exitCode !== null || npm.signalCode !== null) return;
    process.kill(-npm.pid, 'SIGKILL'); // only if the test failed before its own Ctrl-C
  });

  it('runs the whole path, prints what to paste, and Ctrl-C stops everything it started', async () => {
    const port = await freePort();
    const state = await mkdtemp(join(tmpdir(), 'npm-start-'));
    npm = spawn(
      'npm',
      ['start', '--', '--port', String(port), '--bridge-port', '0', '--metrics-port', '0', '--state', state],
      {
        cwd: repo,
        detached: true, // its own process group, as in a terminal
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    npm.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    npm.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    await until(() => output.includes('Ctrl-C stops') || undefined, 'the banner', 120_000);
    const key = /Authorization: Bearer (mcpgw_dev_\S+)/.exec(output)?.[1];
    expect(key).toBeDefined();
    for (const server of ['everything', 'fetch', 'yardstick']) expect(output).toContain(`/${server}/mcp`);
    expect(output).toContain('"mcpServers"'); // Claude Desktop
    expect(output).toContain('"servers"'); // VS Code
    expect(output).toContain('type: streamable-http'); // LibreChat
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(await page.text()).toContain('Paste your API key');
    expect(output).toMatch(/sign in as alice \(developers\) or bob \(readers\), any password/);
    await signInAsAlice(`http://127.0.0.1:${port}/everything/mcp`);

    const pid = npm.pid as number;
    const started = descendants(pid);
    expect(started.length).toBeGreaterThan(3); // start.ts, wrangler, workerd, stdio servers, fetch server
    const exited = new Promise<void>((resolve) => npm?.once('exit', () => resolve()));
    process.kill(-pid, 'SIGINT');
    await exited; // npm itself may end by the signal; what matters is that nothing is left behind
    await until(
      () => started.every((child) => !alive(child)) || undefined,
      'every process npm start started to end',
      20_000,
    );
  });
});
