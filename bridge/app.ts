import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { loopbackHosts } from '../shared/security/origin.ts';
import { type BridgeConfig, ConfigError, type ServerConfig } from './config.ts';
import { ServerEndpoint } from './endpoint.ts';
import { createMcpServer, listen } from './http.ts';
import { type Identity, identityFor } from './identity/identity.ts';
import type { Logger } from './log.ts';
import { startEdgeRefusals } from './metrics/edge-refusals.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { createMetricsServer } from './metrics/server.ts';
import { NonceCache } from './nonces.ts';
import { Portal } from './portal/portal.ts';
import type { HttpDeps } from './route.ts';
import { peersFrom } from './sessions/peers.ts';
import { cgroupLimit, MemoryBudget } from './upstream/memory.ts';

export interface RunningBridge {
  readonly url: string;
  readonly metricsUrl: string;
  readonly endpoints: ReadonlyMap<string, ServerEndpoint>;
  readonly metrics: Metrics;
  /** Stop taking sessions, let in-flight requests finish within the grace period, then end every child. */
  drain(graceSeconds?: number): Promise<void>;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The edge's signing secret, when signatures are required; a missing or short one stops start-up. */
function signingFor(config: BridgeConfig, env: NodeJS.ProcessEnv): HttpDeps['signing'] {
  const mode = config.edge.signatures ?? (isLoopback(config.listen.host) ? 'off' : 'required');
  if (mode === 'off') return undefined;
  const secret = env[config.edge.secretEnv];
  if (secret === undefined || secret.length < 32) {
    throw new ConfigError('environment', [
      `${config.edge.secretEnv}: the edge signing secret must be set (at least 32 characters) because edge.signatures is required; set edge.signatures: off only for a bridge no one else can reach`,
    ]);
  }
  return { secret, nonces: new NonceCache() };
}

/** The edge's refusals as a metric, when configured: a starter; a missing credential stops start-up. */
function edgeRefusalsFor(config: BridgeConfig, env: NodeJS.ProcessEnv, metrics: Metrics, log: Logger) {
  const edge = config.edgeAnalytics;
  if (edge === undefined) return () => () => {};
  const accountId = env[edge.accountIdEnv];
  const token = env[edge.apiTokenEnv];
  if (!accountId || !token) {
    throw new ConfigError('environment', [
      `edgeAnalytics: set ${edge.accountIdEnv} and ${edge.apiTokenEnv} (a token with Account Analytics: Read)`,
    ]);
  }
  const api = { accountId, token, baseUrl: edge.apiBaseUrl };
  return () => startEdgeRefusals({ api, ...edge }, metrics.registry, log);
}

/** Each person's own credential needs to know who is calling: the edge's signed principal. */
function identityOf(server: ServerConfig, signing: HttpDeps['signing'], env: NodeJS.ProcessEnv): Identity {
  if (server.identity.mode !== 'service' && signing === undefined) {
    throw new ConfigError('environment', [
      `servers.${server.name}.identity: ${server.identity.mode} needs the edge's signed caller; set edge.signatures: required`,
    ]);
  }
  return identityFor(server, env, { signingSecret: signing?.secret });
}

export async function startBridge(
  config: BridgeConfig,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningBridge> {
  const signing = signingFor(config, env);
  const metrics = createMetrics();
  const startPolling = edgeRefusalsFor(config, env, metrics, log);
  const instance =
    config.instance ??
    hostname()
      .replace(/[^A-Za-z0-9-]/g, '-')
      .slice(0, 63);
  const memory = new MemoryBudget(
    { ...config.memory, limitBytes: config.memory.limitBytes ?? cgroupLimit() },
    metrics.memory,
    log,
  );
  const endpoints = new Map(
    config.servers.map((server) => [
      server.name,
      new ServerEndpoint(server, {
        metrics,
        log,
        instance,
        memory,
        identity: identityOf(server, signing, env),
      }),
    ]),
  );
  const portal = new Portal(endpoints, { metrics, log, instance, signed: signing !== undefined });
  /** Whatever holds sessions: each server's endpoint, and the portal over them. */
  const served = [...endpoints.values(), portal];
  let state: 'serving' | 'draining' | 'stopped' = 'serving';
  const ready = () => state === 'serving' && [...endpoints.values()].every((e) => e.ready);
  const origins = {
    allowedHosts: config.listen.allowedHosts ?? (isLoopback(config.listen.host) ? [...loopbackHosts] : ['*']),
    allowedOrigins: config.listen.allowedOrigins,
  };
  const peers = peersFrom(instance, config.peers);
  const mcp = createMcpServer({ endpoints, portal, metrics, log, ready, origins, signing, peers });
  const metricsServer = createMetricsServer(metrics);
  const [address, metricsAddress] = await Promise.all([
    listen(mcp, config.listen.port, config.listen.host),
    listen(metricsServer, config.metrics.port, config.metrics.host),
  ]).catch(async (error: Error) => {
    await Promise.all([closeServer(mcp), closeServer(metricsServer)]);
    throw error;
  });
  for (const endpoint of endpoints.values()) endpoint.start();
  memory.start();
  const reaper = setInterval(() => {
    for (const sessions of served) sessions.reapIdle();
  }, 1000);
  reaper.unref();
  const stopPolling = startPolling();

  return {
    url: urlOf(config.listen.host, address.port),
    metricsUrl: `${urlOf(config.metrics.host, metricsAddress.port)}/metrics`,
    endpoints,
    metrics,
    async drain(graceSeconds = config.drainSeconds) {
      if (state !== 'serving') return;
      state = 'draining';
      for (const sessions of served) sessions.stopAccepting();
      const deadline = Date.now() + graceSeconds * 1000;
      while (Date.now() < deadline && served.some((e) => e.busy)) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      clearInterval(reaper);
      memory.stop();
      stopPolling();
      // The portal's sessions end first: their members' channels come from the endpoints.
      await portal.close();
      await Promise.all([...endpoints.values()].map((e) => e.close()));
      mcp.closeAllConnections();
      await Promise.all([closeServer(mcp), closeServer(metricsServer)]);
      state = 'stopped';
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
