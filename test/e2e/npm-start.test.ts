import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, childrenOf, freePort } from '../../scripts/processes.ts';
import { claudeCode, codexCli, type Endpoint, geminiCli } from '../../shared/registry/client-configs.ts';
import { installAiClis, throwawayUser } from '../helpers/ai-clis.ts';
import { crashing, initializeRequest, repo, until } from '../helpers/bridge.ts';
import { mcpgw } from '../helpers/cli.ts';
import { chromiumPath, signIn, startCallback, TestOAuthClient, toolNames } from '../helpers/oauth.ts';

const exec = promisify(execFile);

function descendants(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [child, ...descendants(child)]);
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

/** The README's "Add your own server" section as written: its config lines, its document, its commands. */
function addYourOwnServer() {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const section = /## Add your own server\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
  const blocks = (lang: string) =>
    [...section.matchAll(new RegExp(`( *)\`\`\`${lang}\n([\\s\\S]*?)\\1\`\`\``, 'g'))].map((m) =>
      (m[2] ?? '').replace(new RegExp(`^${m[1]}`, 'gm'), ''),
    );
  const [start = '', change = ''] = blocks('sh').map((b) => b.trim());
  return { entry: blocks('yaml')[0] ?? '', document: blocks('json')[0] ?? '', start, change };
}

/** A copy of the repository as a new user has it (their own files and state), sharing node_modules. */
function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'npm-start-'));
  const skip = /^(node_modules|\.git|\.wrangler)(\/|$)/;
  cpSync(repo, dir, { recursive: true, filter: (from) => !skip.test(relative(repo, from)) });
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

function npmStart(cwd: string, args: string[]): ChildProcess {
  // Its own process group, as in a terminal, so that Ctrl-C reaches everything it started.
  return spawn('npm', ['start', '--', ...args], { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function finished(child: ChildProcess): Promise<{ code: number | null; output: string }> {
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output };
}

async function shell(command: string, cwd: string, env?: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await exec('sh', ['-c', command], { cwd, env, timeout: 180_000 });
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout, err: e.stderr };
  }
}

async function connectWithKey(url: string, key: string): Promise<Client> {
  const client = new Client({ name: 'readme-reader', version: '1' });
  const requestInit = { headers: { authorization: `Bearer ${key}` } };
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit }));
  return client;
}

async function memoryTools(url: string, key: string): Promise<string[]> {
  const client = await connectWithKey(url, key);
  try {
    return (await client.listTools()).tools.map((t) => t.name).sort();
  } finally {
    await client.close();
  }
}

/** The banner's lines under one client's label: the portal's, shown in full. */
function printed(output: string, label: string): string {
  const block = new RegExp(`\\n {4}${label}:\\n((?: {6}.*\\n)+)`).exec(output)?.[1] ?? '';
  return block.replace(/^ {6}/gm, '');
}

/**
 * Claude Code, Gemini CLI and Codex, as a person uses them: the banner's lines as printed (for
 * the portal), the three demo servers added with the same entries, then each CLI's own
 * health check. An open server sends no one into a sign-in; a server
 * that needs a key, added without one, says so.
 */
async function aiClisConnect(output: string, base: string, key: string, bin: string): Promise<void> {
  const user = throwawayUser(bin);
  const servers: Endpoint[] = [
    { name: 'everything', url: `${base}/everything/mcp`, token: key },
    { name: 'fetch', url: `${base}/fetch/mcp`, token: key },
    { name: 'yardstick', url: `${base}/yardstick/mcp`, token: undefined },
  ];
  const clis = [
    { label: 'Claude Code', entry: claudeCode },
    { label: 'Gemini CLI', entry: geminiCli },
    { label: 'Codex', entry: codexCli },
  ];
  await Promise.all(
    clis.map(async ({ label, entry }) => {
      const own = printed(output, label);
      expect(own, label).toMatch(new RegExp(`^export MCP_GATEWAY_KEY=${key}\n.* ${base}/mcp`));
      for (const line of [own, ...servers.map(entry)]) {
        const run = await shell(line, user.cwd, user.env);
        expect(run.code, `${line}\n${run.err}`).toBe(0);
        expect(`${run.out}${run.err}`, line).not.toMatch(/oauth/i);
      }
    }),
  );
  const keyless = claudeCode({ name: 'keyless', url: `${base}/everything/mcp`, token: undefined });
  expect((await shell(keyless, user.cwd, user.env)).code).toBe(0);
  const claude = await shell('claude mcp list', user.cwd, user.env);
  const listed = await shell('gemini mcp list', user.cwd, user.env);
  const gemini = { out: `${listed.out}${listed.err}` }; // it writes its list to stderr
  for (const name of ['everything', 'fetch', 'yardstick']) {
    expect(claude.out).toMatch(new RegExp(`\\n${name}: ${base}/${name}/mcp \\(HTTP\\) - ✔ Connected`));
    expect(gemini.out).toMatch(new RegExp(`✓ ${name}: ${base}/${name}/mcp \\(http\\) - Connected`));
  }
  // The portal, as the banner printed it: every server behind one URL.
  expect(claude.out).toMatch(new RegExp(`\\ngateway: ${base}/mcp \\(HTTP\\) - ✔ Connected`));
  expect(gemini.out).toMatch(new RegExp(`✓ gateway: ${base}/mcp \\(http\\) - Connected`));
  expect(claude.out).toMatch(/\nkeyless: .* - ! Needs authentication/);
}

/** `npm start` as a new user runs it, and Ctrl-C (SIGINT to its process group) as a terminal sends it. */
describe('npm start', { timeout: 600_000 }, () => {
  let npm: ChildProcess | undefined;
  let output = '';

  afterAll(() => {
    if (npm?.pid === undefined || npm.exitCode !== null || npm.signalCode !== null) return;
    process.kill(-npm.pid, 'SIGKILL'); // only if the test failed before its own Ctrl-C
  });

  it('runs the whole path with your own server on other ports, guards its state, and Ctrl-C stops everything', async () => {
    const clis = installAiClis();
    clis.catch(() => undefined); // awaited below; the download runs while npm start starts
    const dir = project();
    const readme = addYourOwnServer();
    writeFileSync(
      join(dir, 'examples/bridge.yaml'),
      `${readFileSync(join(dir, 'examples/bridge.yaml'), 'utf8')}${readme.entry}`,
    );
    writeFileSync(join(dir, 'servers/memory.json'), readme.document);
    // And one whose download a TLS-inspecting proxy broke: it must say so, not fail silently.
    const broken = { type: 'stdio', command: process.execPath, args: crashing.args };
    writeFileSync(
      join(dir, 'examples/bridge.yaml'),
      `${readFileSync(join(dir, 'examples/bridge.yaml'), 'utf8')}  - name: broken\n    transport: ${JSON.stringify(broken)}\n`,
    );
    writeFileSync(
      join(dir, 'servers/broken.json'),
      JSON.stringify({
        version: 1,
        name: 'broken',
        access: { groups: ['developers'] },
        policy: { prompts: {}, resources: {} },
      }),
    );
    const port = await freePort();
    expect(readme.start).toBe('npm start -- --port 8801 --bridge-port 0 --metrics-port 0');
    npm = npmStart(dir, readme.start.replace('8801', String(port)).split(' ').slice(3));
    npm.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    npm.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    await until(() => output.includes('Ctrl-C stops') || undefined, 'the banner', 120_000);
    const key = /Authorization: Bearer (mcpgw_dev_\S+)/.exec(output)?.[1] ?? '';
    expect(key).not.toBe('');
    for (const server of ['everything', 'fetch', 'yardstick', 'memory'])
      expect(output).toContain(`/${server}/mcp`);
    expect(output).toContain('"mcpServers"'); // Claude Desktop
    expect(output).toContain('"servers"'); // VS Code
    expect(output).toContain('type: streamable-http'); // LibreChat
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(await page.text()).toContain('Paste your API key');
    expect(output).toMatch(/sign in as alice \(developers\) or bob \(readers\), any password/);
    const failing =
      /broken: .*FAILING before it was ready, the MCP server exited with code 3; its last stderr: .*SELF_SIGNED_CERT_IN_CHAIN/;
    await until(() => failing.test(output) || undefined, 'the failing server named, with its reason');
    const refused = await fetch(`http://127.0.0.1:${port}/broken/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${key}`,
      },
      body: JSON.stringify(initializeRequest),
    });
    const answer = (await refused.json()) as { error: { data: { reason: string } } };
    expect(refused.status).toBe(502);
    expect(answer.error.data.reason).toMatch(
      /exited with code 3; its last stderr: .*SELF_SIGNED_CERT_IN_CHAIN/,
    );
    expect(`${output}${JSON.stringify(answer)}`).not.toContain('hunter2');
    const memory = `http://127.0.0.1:${port}/memory/mcp`;
    expect(await memoryTools(memory, key)).toEqual(['open_nodes', 'read_graph', 'search_nodes']);
    await aiClisConnect(output, `http://127.0.0.1:${port}`, key, await clis);

    // A second npm start changes nothing of this one: same state folder, or a taken port.
    const again = await finished(npmStart(dir, ['--port', String(await freePort())]));
    expect(again.code).not.toBe(0);
    expect(again.output).toMatch(
      new RegExp(`Another npm start \\(pid \\d+, http://127.0.0.1:${port}, since `),
    );
    const elsewhere = mkdtempSync(join(tmpdir(), 'npm-start-state-'));
    const taken = await finished(npmStart(dir, ['--port', String(port), '--state', elsewhere]));
    expect(taken.code).not.toBe(0);
    expect(taken.output).toContain(
      `Port ${port} (--port, the edge Worker) is taken; nothing was started or changed`,
    );
    expect(await memoryTools(memory, key)).toEqual(['open_nodes', 'read_graph', 'search_nodes']);

    // A misspelled tool name: every command warns once the server listed its tools; --strict refuses it.
    const file = join(dir, 'servers/memory.json');
    const doc = JSON.parse(readme.document);
    doc.policy.tools.allow.push('create_entites');
    writeFileSync(file, JSON.stringify(doc));
    const dead = /policy\.tools\.allow\[3\]: "create_entites" matches none of the 9 tools memory listed/;
    const local = ['--local', '--persist-to', join(dir, '.wrangler/state'), '--dir', join(dir, 'servers')];
    const diff = await until(
      async () => {
        const run = await mcpgw(['diff', ...local]);
        return dead.test(run.err) ? run : undefined;
      },
      'the warning, once the tool snapshot is written',
      60_000,
    );
    expect(diff.code).toBe(0);
    expect(diff.out).not.toContain('upstream');
    const strict = await mcpgw(['apply', '--strict', '--yes', ...local]);
    expect(strict.code).not.toBe(0);
    expect(strict.err).toMatch(dead);

    // Spelled right, the README's commands as written apply it, and the bridge stays where it is.
    doc.policy.tools.allow[3] = 'create_entities';
    writeFileSync(file, JSON.stringify(doc));
    const applied = await shell(readme.change, dir);
    expect(applied.err).not.toMatch(/matches none/);
    expect(applied.code).toBe(0);
    expect(applied.out).toMatch(/applied: 1 written, 0 removed/);
    await until(
      async () => (await memoryTools(memory, key)).includes('create_entities') || undefined,
      'the new allowlist at the edge',
      60_000,
    );
    await signInAsAlice(`http://127.0.0.1:${port}/everything/mcp`);

    // Ctrl-C while a call streams its progress: the call finishes through the edge, then all ends.
    const streaming = await connectWithKey(`http://127.0.0.1:${port}/everything/mcp`, key);
    let progressed: () => void = () => undefined;
    const firstProgress = new Promise<void>((resolve) => {
      progressed = resolve;
    });
    const call = streaming.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 4, steps: 4 } },
      undefined,
      { onprogress: () => progressed() },
    );
    await firstProgress;
    const pid = npm.pid as number;
    const started = descendants(pid);
    expect(started.length).toBeGreaterThan(3); // start.ts, wrangler, workerd, stdio servers, fetch server
    const exited = new Promise<void>((resolve) => npm?.once('exit', () => resolve()));
    process.kill(-pid, 'SIGINT');
    const completed = await call;
    expect(JSON.stringify(completed.content)).toContain('Long running operation completed');
    await exited; // npm itself may end by the signal; what matters is that nothing is left behind
    await until(
      () => started.every((child) => !alive(child)) || undefined,
      'every process npm start started to end',
      20_000,
    );
    expect(existsSync(join(dir, '.wrangler/state/npm-start.lock'))).toBe(false);
  });
});
