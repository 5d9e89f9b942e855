/**
 * Paste-ready client configurations for one MCP endpoint: printed by `npm start` and shown
 * on the Worker's page. Pure: strings in, strings out.
 */

/** Pinned so that a pasted line behaves the same next month. */
export const pinned = { inspector: '@modelcontextprotocol/inspector@2.12.0', mcpRemote: 'mcp-remote@0.15.1' };

export interface Endpoint {
  /** The name clients show, e.g. the server's name. */
  name: string;
  url: string;
  /** The bearer token, when the server needs one. */
  token?: string;
}

const json = (value: unknown) => JSON.stringify(value, null, 2);

export function inspectorCommand({ url, token }: Endpoint): string {
  const header = token === undefined ? '' : ` --header "Authorization: Bearer ${token}"`;
  return `npx -y ${pinned.inspector} --cli ${url} --transport http${header} --method tools/list`;
}

/** claude_desktop_config.json: Claude Desktop runs stdio servers, so mcp-remote bridges to HTTP. */
export function claudeDesktop({ name, url, token }: Endpoint): string {
  const args = ['-y', pinned.mcpRemote, url];
  if (url.startsWith('http:')) args.push('--allow-http');
  if (token === undefined) return json({ mcpServers: { [name]: { command: 'npx', args } } });
  // The header travels through an env var: Claude Desktop on Windows splits arguments at spaces.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: mcp-remote expands ${AUTH_HEADER} itself
  args.push('--header', 'Authorization:${AUTH_HEADER}');
  return json({ mcpServers: { [name]: { command: 'npx', args, env: { AUTH_HEADER: `Bearer ${token}` } } } });
}

/** .vscode/mcp.json: the key is asked for once and kept in VS Code's secret storage. */
export function vsCode({ name, url, token }: Endpoint): string {
  if (token === undefined) return json({ servers: { [name]: { type: 'http', url } } });
  const input = 'mcp-gateway-key';
  return json({
    servers: { [name]: { type: 'http', url, headers: { Authorization: `Bearer \${input:${input}}` } } },
    inputs: [{ type: 'promptString', id: input, description: 'MCP gateway API key', password: true }],
  });
}

/** librechat.yaml `mcpServers`, as YAML; the key comes from LibreChat's environment. */
export function libreChat({ name, url, token }: Endpoint): string {
  const lines = ['mcpServers:', `  ${name}:`, '    type: streamable-http', `    url: ${url}`];
  // biome-ignore lint/suspicious/noTemplateCurlyInString: LibreChat expands ${MCP_GATEWAY_KEY} itself
  if (token !== undefined) lines.push('    headers:', '      Authorization: "Bearer ${MCP_GATEWAY_KEY}"');
  return lines.join('\n');
}

/** The AI coding CLIs' own add commands; the key travels in MCP_GATEWAY_KEY, set on the first line. */
const keyVariable = 'MCP_GATEWAY_KEY';

function withKey(token: string | undefined, command: string): string {
  return token === undefined ? command : `export ${keyVariable}=${token}\n${command}`;
}

const bearerHeader = `--header "Authorization: Bearer $${keyVariable}"`;

/** Claude Code: the shell puts the key in the header when the line runs. */
export function claudeCode({ name, url, token }: Endpoint): string {
  const header = token === undefined ? '' : ` ${bearerHeader}`;
  return withKey(token, `claude mcp add --transport http ${name} ${url}${header}`);
}

/** Gemini CLI (it asks to trust a new folder first: GEMINI_CLI_TRUST_WORKSPACE=true skips that). */
export function geminiCli({ name, url, token }: Endpoint): string {
  const header = token === undefined ? '' : ` ${bearerHeader}`;
  return withKey(token, `gemini mcp add --transport http ${name} ${url}${header}`);
}

/** Codex reads the key from the variable each time it connects: it is never written to its config. */
export function codexCli({ name, url, token }: Endpoint): string {
  const variable = token === undefined ? '' : ` --bearer-token-env-var ${keyVariable}`;
  return withKey(token, `codex mcp add ${name} --url ${url}${variable}`);
}

/** GitHub Copilot CLI. */
export function copilotCli({ name, url, token }: Endpoint): string {
  const header = token === undefined ? '' : ` ${bearerHeader}`;
  return withKey(token, `copilot mcp add --transport http${header} ${name} ${url}`);
}

/** Every entry for one endpoint, by the label the banner and the page show. */
export function clientEntries(endpoint: Endpoint): Record<string, string> {
  return {
    'MCP Inspector': inspectorCommand(endpoint),
    'Claude Desktop (claude_desktop_config.json)': claudeDesktop(endpoint),
    'VS Code (.vscode/mcp.json)': vsCode(endpoint),
    'LibreChat (librechat.yaml; MCP_GATEWAY_KEY in its environment)': libreChat(endpoint),
    'Claude Code': claudeCode(endpoint),
    'Gemini CLI': geminiCli(endpoint),
    Codex: codexCli(endpoint),
    'Copilot CLI': copilotCli(endpoint),
  };
}
