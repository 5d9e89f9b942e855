import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startBridge } from '../bridge/app.ts';
import { ConfigError, loadConfig } from '../bridge/config.ts';
import { createLogger, levelFromEnv } from '../bridge/log.ts';

/** `npm start`: the gateway on this machine, no Cloudflare account and no cluster needed. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', default: join(import.meta.dirname, '../examples/bridge.yaml') },
      port: { type: 'string' },
      'metrics-port': { type: 'string' },
    },
  });
  const config = await loadConfig(values.config);
  if (values.port) config.listen.port = Number(values.port);
  if (values['metrics-port']) config.metrics.port = Number(values['metrics-port']);
  const log = createLogger(levelFromEnv(process.env.LOG_LEVEL ?? 'warn'));
  const bridge = await startBridge(config, log);
  const lines = ['', 'MCP bridge is running. Servers (MCP Streamable HTTP, protocol 2025-11-25):'];
  for (const name of bridge.endpoints.keys()) {
    const url = `${bridge.url}/${name}/mcp`;
    lines.push(`  ${name.padEnd(12)} ${url}`);
    lines.push(
      `    inspect:   npx @modelcontextprotocol/inspector --cli ${url} --transport http --method tools/list`,
    );
    lines.push(
      `    (or the Inspector UI: npx @modelcontextprotocol/inspector, Transport "Streamable HTTP", URL above)`,
    );
  }
  lines.push(
    '',
    `Prometheus metrics: ${bridge.metricsUrl}`,
    `  curl -s ${bridge.metricsUrl} | grep toolhive_mcp`,
  );
  lines.push('', 'Ctrl-C stops the bridge and every server process it started.', '');
  console.log(lines.join('\n'));
  const stop = () => {
    console.log('\nstopping: letting in-flight requests finish…');
    bridge.drain().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: NodeJS.ErrnoException) => {
  if (error instanceof ConfigError) console.error(error.message);
  else if (error.code === 'EADDRINUSE') {
    console.error(`${error.message}: that port is taken. Try: npm start -- --port 8081 --metrics-port 9465`);
  } else console.error(error);
  process.exit(1);
});
