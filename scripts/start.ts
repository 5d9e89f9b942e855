import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../bridge/config.ts';
import { createLogger, levelFromEnv } from '../bridge/log.ts';
import type { ServerStatus } from '../bridge/upstream/supply.ts';
import { clientEntries } from '../shared/registry/client-configs.ts';
import { demoPeople, type IdentityProvider, startDemoIdentityProvider } from './demo-identity-provider.ts';
import { InstanceError, type InstanceLock, listenOn, lockState } from './instance-lock.ts';
import { devKeyHours, type LocalGateway, startLocalGateway } from './local-gateway.ts';

const usage = `npm start [-- options]: the whole path on this machine (edge Worker, bridge, demo servers).

  --port 8787           the edge Worker (wrangler dev)
  --bridge-port N       the bridge (default: the config's, 8080; 0 picks a free one)
  --metrics-port N      the bridge's /metrics (default: the config's, 9464)
  --config FILE         the bridge config (default examples/bridge.yaml)
  --state DIR           local KV state (default .wrangler/state, where mcpgw --local looks);
                        one npm start at a time per folder: a second one stops before it writes
  --sign-in-port N      the demo OpenID provider that OAuth sign-in sends people to (default: a free one)

Example: npm start -- --port 8788 --bridge-port 0 --metrics-port 0`;

function optionalPort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`not a port: ${text}`);
  return port;
}

function options() {
  return parseArgs({
    options: {
      config: { type: 'string', default: join(import.meta.dirname, '../examples/bridge.yaml') },
      port: { type: 'string', default: '8787' },
      'bridge-port': { type: 'string' },
      'metrics-port': { type: 'string' },
      state: { type: 'string', default: join(import.meta.dirname, '../.wrangler/state') },
      'sign-in-port': { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** `npm start`: the whole path on this machine, no Cloudflare account and no cluster needed. */
async function main(): Promise<void> {
  const { values } = options();
  if (values.help) {
    console.log(usage);
    return;
  }
  const port = optionalPort(values.port) ?? 8787;
  const lock = lockState(values.state, `http://127.0.0.1:${port}`);
  try {
    await checkPorts(values, port);
    await run(values, port, lock);
  } catch (error) {
    lock.release();
    throw error;
  }
}

type Values = ReturnType<typeof options>['values'];

/** Every port this run will take, checked before anything starts: the first taken one is named. */
async function checkPorts(values: Values, port: number): Promise<void> {
  const config = await loadConfig(values.config);
  const wanted: [string, number | undefined][] = [
    ['--port, the edge Worker', port],
    ['--bridge-port, the bridge', optionalPort(values['bridge-port']) ?? config.listen.port],
    ['--metrics-port, the bridge metrics', optionalPort(values['metrics-port']) ?? config.metrics.port],
    ['--sign-in-port, the demo identity provider', optionalPort(values['sign-in-port'])],
  ];
  for (const [what, wantedPort] of wanted) {
    if (wantedPort !== undefined && wantedPort !== 0 && (await listenOn(wantedPort)) === undefined) {
      throw new InstanceError(
        `Port ${wantedPort} (${what}) is taken; nothing was started or changed. Try: npm start -- --port 8788 --bridge-port 0 --metrics-port 0 (0: any free port)`,
      );
    }
  }
}

async function run(values: Values, port: number, lock: InstanceLock): Promise<void> {
  console.log('Starting the bridge, the edge Worker (wrangler dev) and a demo identity provider…');
  const log = createLogger(levelFromEnv(process.env.LOG_LEVEL ?? 'warn'));
  const idp = await startDemoIdentityProvider(
    [`http://127.0.0.1:${port}`, `http://localhost:${port}`],
    demoPeople,
    optionalPort(values['sign-in-port']),
  );
  const gateway = await startLocalGateway({
    vars: {
      SIGN_IN_ISSUER: idp.issuer,
      SIGN_IN_CLIENT_ID: idp.clientId,
      SIGN_IN_SCOPES: 'openid email groups',
    },
    secrets: { SIGN_IN_CLIENT_SECRET: idp.clientSecret },
    bridgeConfig: values.config,
    edgePort: port,
    log,
    bridgePort: optionalPort(values['bridge-port']),
    metricsPort: optionalPort(values['metrics-port']),
    // Default: wrangler's own, so that `npx mcpgw … --local` reaches this Worker's KV unprompted.
    persistTo: values.state,
    onAudit: (e) => console.log(auditLine(e)),
  }).catch(async (error) => {
    await idp.stop();
    throw error;
  });
  console.log(banner(gateway, idp));
  const watching = watchServers(gateway);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    clearInterval(watching);
    console.log('\nstopping: letting in-flight requests finish…');
    gateway
      .stop()
      .then(() => idp.stop())
      .then(() => lock.release())
      .then(() => process.exit(0));
  };
  // SIGHUP: the terminal closed. The Worker runs in a session of its own (Ctrl-C must not end it
  // before the bridge drained), so every way out goes through stop().
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, stop);
}

function describe(status: ServerStatus | undefined): string {
  if (status === undefined) return 'not in the bridge config: every call to it fails';
  return status.state === 'failing' ? `FAILING ${status.reason}` : status.state;
}

function stateNote(gateway: LocalGateway, name: string): string {
  const status = gateway.bridge.endpoints.get(name)?.status;
  return status?.state === 'ready' ? '' : `   (${describe(status)})`;
}

/** Says when a server becomes ready or starts failing, and why: a banner is read once. */
function watchServers(gateway: LocalGateway): NodeJS.Timeout {
  const said = new Map(
    gateway.servers.map(({ name }) => [name, describe(gateway.bridge.endpoints.get(name)?.status)]),
  );
  const timer = setInterval(() => {
    for (const { name } of gateway.servers) {
      const now = describe(gateway.bridge.endpoints.get(name)?.status);
      if (said.get(name) === now) continue;
      said.set(name, now);
      console.log(`${name}: ${now}`);
    }
  }, 1000);
  return timer.unref();
}

function indent(text: string, by = '      '): string {
  return text
    .split('\n')
    .map((line) => by + line)
    .join('\n');
}

/** One line per audit event: a call and its decision (and who approved it), or a tool held back by its pins. */
function auditLine(e: Record<string, unknown>): string {
  if (e.event === 'mcp.tools.drift') {
    const fields = Array.isArray(e.fields) ? ` (${e.fields.join(', ')})` : '';
    return `audit: ${e.server}/${e.tool} held back: ${e.state}${fields}`;
  }
  const approval = e.approval as { by?: string } | undefined;
  const approved = approval?.by === undefined ? '' : `, approved by ${approval.by}`;
  return `audit: ${e.principal} ${e.server}/${e.tool} → ${e.decision} (${e.status}${approved})`;
}

function banner(gateway: LocalGateway, idp: IdentityProvider): string {
  const lines = ['', 'MCP edge gateway is running (edge Worker → signed → bridge → MCP servers).', ''];
  lines.push(`Dev API key (valid ${devKeyHours} h):  Authorization: Bearer ${gateway.apiKey}`);
  lines.push(`Your servers, tools and these configs in a browser: ${gateway.edgeUrl}/`, '');
  const portal = { name: 'gateway', url: `${gateway.edgeUrl}/mcp`, token: gateway.apiKey };
  lines.push(`▸ Every server your key may use, one URL (tools named <server>__<tool>): ${portal.url}`);
  for (const [label, text] of Object.entries(clientEntries(portal)))
    lines.push(`    ${label}:`, indent(text));
  lines.push('', 'Or one server at a time:');
  for (const { name, anonymous } of gateway.servers) {
    const endpoint = {
      name,
      url: `${gateway.edgeUrl}/${name}/mcp`,
      token: anonymous ? undefined : gateway.apiKey,
    };
    lines.push(
      `▸ ${name}: ${endpoint.url}${anonymous ? '   (open to anyone: no key needed)' : ''}${stateNote(gateway, name)}`,
    );
    // Every server gets the Inspector line (the first entry); every client's: the page above.
    const [label, text] = Object.entries(clientEntries(endpoint))[0] ?? [];
    if (label !== undefined && text !== undefined) lines.push(`    ${label}:`, indent(text));
  }
  lines.push('', "(Every client's entry for each server: the page above.)");
  const people = Object.entries(demoPeople).map(([name, p]) => `${name} (${p.groups.join(', ')})`);
  lines.push('', `OAuth sign-in (clients without a key, e.g. hosted connectors): a demo identity provider`);
  lines.push(`  at ${idp.issuer}; sign in as ${people.join(' or ')}, any password. docs/auth.md`);
  lines.push('', `Bridge metrics (Prometheus): ${gateway.bridge.metricsUrl}`);
  lines.push(`  curl -s ${gateway.bridge.metricsUrl} | grep toolhive_mcp`);
  lines.push('', 'Change a document in servers/, then apply it (the Worker sees it within 10 s):');
  lines.push('  npx mcpgw diff --local && npx mcpgw apply --local --yes');
  lines.push('', 'Ctrl-C stops the Worker, the bridge and every server process they started.', '');
  return lines.join('\n');
}

main().catch((error: NodeJS.ErrnoException) => {
  if (error instanceof ConfigError || error instanceof InstanceError) console.error(error.message);
  else if (error.code === 'EADDRINUSE' || /Address already in use/.test(error.message ?? '')) {
    const where = /\((\d+\.\d+\.\d+\.\d+:\d+)\)/.exec(error.message ?? '')?.[1] ?? error.message;
    console.error(
      `A port is taken (${where}). Try: npm start -- --port 8788 --bridge-port 0 --metrics-port 0 (0: any free port)`,
    );
  } else console.error(error.message ?? error);
  process.exit(1);
});
