import { parseArgs } from 'node:util';
import { startBridge } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger, levelFromEnv } from './log.ts';

const usage = `Usage: node bridge/main.ts --config <file.yaml|json> [--port N] [--metrics-port N]

Serves every configured MCP server at http://HOST:PORT/<server>/mcp (Streamable HTTP)
and Prometheus metrics at http://HOST:METRICS_PORT/metrics.
Example: node bridge/main.ts --config examples/bridge.yaml`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', default: process.env.BRIDGE_CONFIG },
      port: { type: 'string' },
      'metrics-port': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help || !values.config) {
    console.log(usage);
    process.exit(values.help ? 0 : 2);
  }
  const log = createLogger(levelFromEnv(process.env.LOG_LEVEL));
  const config = await loadConfig(values.config);
  if (values.port !== undefined) config.listen.port = Number(values.port);
  if (values['metrics-port'] !== undefined) config.metrics.port = Number(values['metrics-port']);
  // One stray failure must not take every session down with the process: log it and go on.
  process.on('unhandledRejection', (reason) => {
    log.log('error', 'unhandled rejection', {
      error: reason instanceof Error ? reason.message : String(reason),
    });
  });
  const bridge = await startBridge(config, log);
  log.log('info', 'bridge listening', {
    url: bridge.url,
    metrics: bridge.metricsUrl,
    servers: [...bridge.endpoints.keys()].join(','),
  });
  // One machine-readable line on stdout, for whoever started us (npm start, tests).
  console.log(JSON.stringify({ event: 'listening', url: bridge.url, metrics: bridge.metricsUrl }));
  const stop = (signal: string) => {
    log.log('info', 'draining', { signal, graceSeconds: config.drainSeconds });
    bridge.drain().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((error: Error) => {
  if (error instanceof ConfigError) console.error(error.message);
  else if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    console.error(
      `${error.message}: the port is taken; pass --port / --metrics-port or change listen/metrics in the config`,
    );
  } else console.error(error);
  process.exit(1);
});
