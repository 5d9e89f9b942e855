import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import { freePort } from '../../scripts/processes.ts';
import { crashing, repo } from '../helpers/bridge.ts';
import { withOneMore } from '../helpers/gateway-files.ts';

/** Debian's chromium (.ci/run installs it: apt-get install chromium). */
const chromiumPath = '/usr/bin/chromium';

/** The Worker's page in a real headless browser (Debian chromium), over the whole local path. */
describe('the page at /, in headless Chromium', { timeout: 120_000 }, () => {
  let gateway: LocalGateway;
  let browser: Browser;
  let page: Page;

  async function showServers(key: string) {
    await page.goto(`${gateway.edgeUrl}/`);
    await page.fill('#key', key);
    await page.click('button[type=submit]');
    await page.waitForSelector('#status[data-ready=true]', { timeout: 30_000 });
    // Locators, not page functions: the page's CSP (rightly) forbids evaluating strings there.
    await expect
      .poll(() => page.locator('li', { hasText: 'listing tools…' }).count(), { timeout: 30_000 })
      .toBe(0);
  }

  const toolsOf = (server: string) =>
    page.$$eval(`[data-server="${server}"] [data-tool]`, (items) =>
      items.map((i) => i.getAttribute('data-tool')),
    );

  beforeAll(async () => {
    gateway = await startLocalGateway({
      // The demo's servers, and one whose download a TLS-inspecting proxy broke.
      ...(await withOneMore(
        { bridgeConfig: join(repo, 'examples/bridge.yaml'), documentsDir: join(repo, 'servers') },
        { name: 'broken', transport: crashing },
        { access: { groups: ['developers'] }, policy: {} },
      )),
      edgePort: await freePort(),
      freeBridgePorts: true,
      log: createLogger('error'),
    });
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    const context = await browser.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gateway.edgeUrl });
    page = await context.newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  it('shows the servers, each one’s state, and the tools the key may use, and not the denied one', async () => {
    await showServers(gateway.apiKey);
    const servers = await page.$$eval('[data-server]', (s) => s.map((e) => e.getAttribute('data-server')));
    // The portal first: every server the key may use, behind one URL.
    expect(servers[0]).toBe('portal');
    expect(servers.sort()).toEqual(['broken', 'everything', 'fetch', 'portal', 'yardstick']);
    const state = (server: string) => page.locator(`[data-server="${server}"] .state`);
    for (const server of ['everything', 'fetch', 'yardstick'])
      expect(await state(server).getAttribute('data-state')).toBe('ready');
    expect(await state('broken').getAttribute('data-state')).toBe('failing');
    const failing = (await state('broken').textContent()) ?? '';
    expect(failing).toMatch(/^failing: .*exited with code 3; its last stderr: .*SELF_SIGNED_CERT_IN_CHAIN/);
    expect(failing).not.toContain('hunter2');
    const everything = await toolsOf('everything');
    expect(everything).toContain('echo');
    expect(everything).not.toContain('get-env');
    expect(await toolsOf('fetch')).toEqual(['fetch']);
    expect(await toolsOf('yardstick')).toEqual(['echo']);
    const portal = await toolsOf('portal');
    expect(portal).toContain('everything__echo');
    expect(portal).toContain('yardstick__echo');
    expect(portal).not.toContain('everything__get-env');
  });

  it('copies client configurations that are valid JSON and carry the key', async () => {
    await showServers(gateway.apiKey);
    const copy = async (label: string, server = 'everything') => {
      await page.click(`[data-server="${server}"] button[data-copy="${label}"]`);
      return page.evaluate<string>('navigator.clipboard.readText()');
    };
    const claude = JSON.parse(await copy('Claude Desktop (claude_desktop_config.json)'));
    expect(claude.mcpServers.everything.env.AUTH_HEADER).toBe(`Bearer ${gateway.apiKey}`);
    expect(claude.mcpServers.everything.args).toContain(`${gateway.edgeUrl}/everything/mcp`);
    const vscode = JSON.parse(await copy('VS Code (.vscode/mcp.json)'));
    expect(vscode.servers.everything).toMatchObject({
      type: 'http',
      url: `${gateway.edgeUrl}/everything/mcp`,
    });
    expect(await copy('MCP Inspector')).toContain(`--header "Authorization: Bearer ${gateway.apiKey}"`);
    const everything = `${gateway.edgeUrl}/everything/mcp`;
    expect(await copy('Codex')).toBe(
      `export MCP_GATEWAY_KEY=${gateway.apiKey}\ncodex mcp add everything --url ${everything} --bearer-token-env-var MCP_GATEWAY_KEY`,
    );
    expect(await copy('Claude Code')).toBe(
      `export MCP_GATEWAY_KEY=${gateway.apiKey}\nclaude mcp add --transport http everything ${everything} --header "Authorization: Bearer $MCP_GATEWAY_KEY"`,
    );
    // An open server's entries carry no key at all.
    expect(await copy('Gemini CLI', 'yardstick')).toBe(
      `gemini mcp add --transport http yardstick ${gateway.edgeUrl}/yardstick/mcp`,
    );
  });

  it('keeps the key in memory only: nothing in storage or the URL, gone after a reload', async () => {
    await showServers(gateway.apiKey);
    const stored = await page.evaluate(
      () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
    );
    expect(stored).not.toContain(gateway.apiKey);
    expect(page.url()).not.toContain(gateway.apiKey);
    await page.reload();
    expect(await page.inputValue('#key')).toBe('');
  });

  it('shows anonymous visitors the public servers only, and says when a key is refused', async () => {
    await showServers('');
    const servers = await page.$$eval('[data-server]', (s) => s.map((e) => e.getAttribute('data-server')));
    expect(servers).toEqual(['yardstick']);
    await page.fill('#key', 'mcpgw_not_a_real_key');
    await page.click('button[type=submit]');
    await expect
      .poll(() => page.locator('#status').textContent(), { timeout: 30_000 })
      .toMatch(/^That key was refused: Forbidden: this API key is not one this gateway issued/);
  });
});
