import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../bridge/config.ts';
import { createLogger, levelFromEnv } from '../bridge/log.ts';
import { devKeyHours, type LocalGateway, startLocalGateway } from './local-gateway.ts';

/** `npm start`: the whole path on this machine, no Cloudflare account and no cluster needed. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', default: join(import.meta.dirname, '../examples/bridge.yaml') },
      port: { type: 'string', default: '8787' },
    },
  });
  console.log('Starting the bridge and the edge Worker (wrangler dev)…');
  const log = createLogger(levelFromEnv(process.env.LOG_LEVEL ?? 'warn'));
  const gateway = await startLocalGateway({
    bridgeConfig: values.config,
    edgePort: Number(values.port),
    log,
    // wrangler's own default, so that `npx mcpgw … --local` reaches this Worker's KV unprompted.
    persistTo: join(import.meta.dirname, '../.wrangler/state'),
    onAudit: (e) => console.log(`audit: ${e.principal} ${e.server}/${e.tool} → ${e.decision} (${e.status})`),
  });
  console.log(banner(gateway));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping: letting in-flight requests finish…');
    gateway.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function banner(gateway: LocalGateway): string {
  const auth = `Authorization: Bearer ${gateway.apiKey}`;
  const lines = ['', 'MCP edge gateway is running (edge Worker → signed → bridge → stdio servers).', ''];
  lines.push(`Dev API key (valid ${devKeyHours} h):  ${auth}`, '');
  for (const name of gateway.servers) {
    const url = `${gateway.edgeUrl}/${name}/mcp`;
    lines.push(`  ${name}: ${url}`);
    lines.push(
      `    npx @modelcontextprotocol/inspector@2 --cli ${url} --transport http --header "${auth}" --method tools/list`,
    );
  }
  lines.push('', `Bridge metrics (Prometheus): ${gateway.bridge.metricsUrl}`);
  lines.push(`  curl -s ${gateway.bridge.metricsUrl} | grep toolhive_mcp`);
  lines.push('', 'Change a document in servers/, then apply it (the Worker sees it within 10 s):');
  lines.push('  npx mcpgw diff --local && npx mcpgw apply --local --yes');
  lines.push('', 'Ctrl-C stops the Worker, the bridge and every server process they started.', '');
  return lines.join('\n');
}

main().catch((error: NodeJS.ErrnoException) => {
  if (error instanceof ConfigError) console.error(error.message);
  else if (error.code === 'EADDRINUSE') {
    console.error(
      `${error.message}: a port is taken. Try: npm start -- --port 8788 (edge), or change listen/metrics in the bridge config`,
    );
  } else console.error(error.message ?? error);
  process.exit(1);
});
