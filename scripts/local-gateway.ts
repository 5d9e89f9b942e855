import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { applyPlan, planAgainst, planDocuments } from '../admin/apply.ts';
import { newAssertionKey } from '../admin/assertion-key.ts';
import { checkFiles, documentFiles } from '../admin/files.ts';
import { keyEntry } from '../admin/keys.ts';
import { WranglerKv } from '../admin/wrangler-kv.ts';
import { type RunningBridge, startBridge } from '../bridge/app.ts';
import { type BridgeConfig, loadConfig } from '../bridge/config.ts';
import type { Logger } from '../bridge/log.ts';
import type { ServerDocument } from '../shared/policy/document.ts';
import { freePort, listeningUrl, type Started, startProcess } from './processes.ts';

const repo = join(import.meta.dirname, '..');
// Its CLI itself, not bin/wrangler.js, which runs it as a child of its own: a parent-death
// signal must reach the process that stops workerd.
const wrangler = join(repo, 'node_modules/wrangler/wrangler-dist/cli.js');
const edgeBundle = join(repo, 'scripts/edge-bundle.ts');
/** Dev keys expire: with a kept KV state (npm start), old runs' keys must not pile up as valid. */
export const devKeyHours = 12;

/** The edge half of the path: the Worker in front of a bridge that runs elsewhere. */
export interface LocalEdge {
  edgeUrl: string;
  apiKey: string;
  servers: { name: string; anonymous: boolean }[];
  /** The local KV state (`mcpgw --local --persist-to` this folder reaches the running Worker). */
  kvState: string;
  /** What the Worker printed so far (its logs): for a test that failed. */
  workerLog(): string;
  /** The process that runs the Worker (wrangler, or the bundle's runner; workerd is its child). */
  pid: number | undefined;
  stop(): Promise<void>;
}

/** The whole path: the edge, and the bridge this process runs behind it. */
export interface LocalGateway extends LocalEdge {
  bridge: RunningBridge;
  /** The secret made for this run (benchmarks sign direct bridge calls with it). */
  signingSecret: string;
}

export interface LocalOptions {
  bridgeConfig?: string;
  edgePort?: number;
  /** The bridge's ports instead of the config's (0: a free one). */
  bridgePort?: number;
  metricsPort?: number;
  /** Let the OS pick the bridge's ports instead of the config's (tests running beside npm start). */
  freeBridgePorts?: boolean;
  log: Logger;
  /** Local KV state to use (default: a fresh folder per run); `mcpgw --local --persist-to` can share it. */
  persistTo?: string;
  /** Overrides wrangler.toml's DOCUMENT_CACHE_SECONDS (tests that change documents). */
  documentCacheSeconds?: number;
  /** More Worker variables (`wrangler dev --var`), e.g. OIDC_ISSUER and OIDC_JWKS_URL. */
  vars?: Record<string, string>;
  /** Worker secrets for this run (next to the generated signing secret). */
  secrets?: Record<string, string>;
  /** Extra environment for wrangler, e.g. NODE_EXTRA_CA_CERTS for a test's own TLS server. */
  wranglerEnv?: Record<string, string>;
  /** Where the server documents are (default servers/). */
  documentsDir?: string;
  /** Each audit event the Worker logs (one per tools/call), as it happens. */
  onAudit?: (event: Record<string, unknown>) => void;
  /**
   * How the Worker runs: under `wrangler dev` (npm start's way, the default), or as the bundle
   * `wrangler deploy` uploads, in workerd without wrangler's proxy (scripts/edge-bundle.ts).
   */
  edge?: 'wrangler-dev' | 'deployed-bundle';
  /** The deploy bundle's DevTools port (`bench:profile -- --edge`); wrangler dev always gets a free one. */
  inspectorPort?: number;
  /** Extra API keys to create: key → { principal, groups }. */
  keys?: Record<string, { principal: string; groups: string[] }>;
  /** The bridge's environment besides its signing secret (a token-exchange client secret). */
  bridgeEnv?: Record<string, string>;
}

/**
 * servers/*.json|yaml, validated like `mcpgw validate`. The Worker finds the bridge through
 * BRIDGE_URL; an old document's own upstream URL is dropped here, since it names no bridge of this run.
 */
function localDocuments(dir: string): ServerDocument[] {
  const checked = checkFiles(documentFiles(dir));
  if (checked.problems.length > 0) throw new Error(`servers/ has problems:\n${checked.problems.join('\n')}`);
  return checked.documents.map(({ document }) => ({ ...document, upstream: undefined }));
}

function followAudit(dev: Started, onAudit: (event: Record<string, unknown>) => void): void {
  for (const stream of [dev.child.stdout, dev.child.stderr]) {
    if (stream) createInterface({ input: stream }).on('line', (line) => onLine(line, onAudit));
  }
}

function onLine(line: string, onAudit: (event: Record<string, unknown>) => void): void {
  // A tool call's audit line, or a tool held back by its pins (mcp.tools.drift).
  const start = line.indexOf('{"event":"mcp.tools.');
  if (start === -1) return;
  try {
    onAudit(JSON.parse(line.slice(start)));
  } catch {
    // A log line cut by wrangler's formatting: not an event.
  }
}

/** What `mcpgw apply --local` does, with the dev keys written in the same bulk put. */
async function seed(kv: WranglerKv, documents: ServerDocument[], keys: LocalOptions['keys'], known: boolean) {
  const planned = known ? await planDocuments(kv, documents) : planAgainst(documents, new Map());
  const expiresAt = new Date(Date.now() + devKeyHours * 3_600_000).toISOString();
  const entries = await Promise.all(
    Object.entries(keys ?? {}).map(
      async ([key, record]) => (await keyEntry({ ...record, expiresAt }, key)).entry,
    ),
  );
  await applyPlan(kv, planned, entries);
}

/** The demo Fetch server that examples/bridge.yaml's `fetch` upstream stands for, on a free port. */
async function startDemoFetch(config: BridgeConfig): Promise<Started | undefined> {
  const fetchServer = config.servers.find((s) => s.name === 'fetch');
  if (fetchServer?.transport.type !== 'streamable-http') return undefined;
  if (new URL(fetchServer.transport.url).hostname !== '127.0.0.1') return undefined;
  const started = await startProcess(
    process.execPath,
    [join(repo, 'examples/demo/fetch.ts'), '--port', '0'],
    /"listening"/,
    { ownSession: true },
  );
  fetchServer.transport.url = listeningUrl(started);
  return started;
}

/** The Worker, either way, with the same flags: the bundle runner takes wrangler dev's. */
async function startEdge(options: EdgeOptions, bridgeUrl: string, kvState: string, secrets: string) {
  const port = String(options.edgePort ?? 8787);
  const cache = options.documentCacheSeconds;
  // An inspector port of its own: two wrangler dev starting at once both probed 9229 as free,
  // and the second failed ("Address already in use", socket direct:1:default).
  const program =
    options.edge === 'deployed-bundle'
      ? [edgeBundle, ...(options.inspectorPort ? ['--inspector-port', String(options.inspectorPort)] : [])]
      : [
          ...[wrangler, 'dev', '--local', '--ip', '127.0.0.1', '--show-interactive-dev-session=false'],
          ...['--inspector-port', String(await freePort())],
        ];
  return startProcess(
    process.execPath,
    [
      '--no-warnings',
      ...program,
      ...['--port', port, '--persist-to', kvState],
      ...(cache === undefined ? [] : ['--var', `DOCUMENT_CACHE_SECONDS:${cache}`]),
      ...['--var', 'ALLOWED_HOSTS:127.0.0.1,localhost', '--var', `BRIDGE_URL:${bridgeUrl}`],
      ...Object.entries(options.vars ?? {}).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
      ...['--env-file', secrets],
      ...(options.edge === 'deployed-bundle' ? [] : ['--log-level', 'log']),
    ],
    /Ready on (http:\/\/\S+)/,
    {
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: 'false',
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        NO_COLOR: '1',
        ...options.wranglerEnv,
      },
      timeoutMs: 60_000,
      ownSession: true,
    },
  );
}

export type EdgeOptions = Omit<
  LocalOptions,
  'bridgeConfig' | 'bridgePort' | 'metricsPort' | 'freeBridgePorts' | 'log'
>;

/**
 * The Worker (under `wrangler dev`, or its deploy bundle in workerd) in front of the bridge at
 * `bridgeUrl`, with local KV seeded from servers/*.json and a fresh API key.
 */
export async function startLocalEdge(
  options: EdgeOptions,
  bridgeUrl: string,
  signingSecret: string,
): Promise<LocalEdge> {
  const apiKey = `mcpgw_dev_${randomBytes(18).toString('base64url')}`;
  const state = await mkdtemp(join(tmpdir(), 'mcp-gateway-'));
  const kvState = options.persistTo ?? join(state, 'kv');
  const documents = localDocuments(options.documentsDir ?? join(repo, 'servers'));
  const keys = { [apiKey]: { principal: 'developer', groups: ['developers'] }, ...options.keys };
  const secrets = {
    BRIDGE_SIGNING_SECRET: signingSecret,
    // A key of this run's own: its JWKS is live at /.well-known/jwks.json.
    ASSERTION_SIGNING_KEY: newAssertionKey(),
    ...options.secrets,
  };
  const secretLines = Object.entries(secrets).map(([name, value]) => `${name}=${value}\n`);
  writeFileSync(join(state, 'secrets.env'), secretLines.join(''), { mode: 0o600 });
  const kv = new WranglerKv({ kind: 'local', persistTo: kvState });
  await seed(kv, documents, keys, options.persistTo !== undefined);
  const dev = await startEdge(options, bridgeUrl, kvState, join(state, 'secrets.env'));
  const edgeUrl =
    /Ready on (http:\/\/[^\s]+)/.exec(dev.output())?.[1] ?? `http://127.0.0.1:${options.edgePort}`;
  if (options.onAudit) followAudit(dev, options.onAudit);
  return {
    edgeUrl: edgeUrl.replace(/\/$/, ''),
    apiKey,
    servers: documents.map((d) => ({ name: d.name, anonymous: d.access.anonymous })),
    kvState,
    workerLog: () => dev.output(),
    pid: dev.child.pid,
    stop: () => dev.stop(),
  };
}

/**
 * The whole path on this machine: the bridge (signatures required) in this process, the
 * edge in front of it (startLocalEdge), and a signing secret made for this run only. No
 * Cloudflare account, no cluster.
 */
export async function startLocalGateway(options: LocalOptions): Promise<LocalGateway> {
  const secret = randomBytes(32).toString('hex');
  const config = await loadConfig(options.bridgeConfig ?? join(repo, 'examples/bridge.yaml'));
  config.edge.signatures = 'required';
  if (options.freeBridgePorts) {
    config.listen.port = 0;
    config.metrics.port = 0;
  }
  if (options.bridgePort !== undefined) config.listen.port = options.bridgePort;
  if (options.metricsPort !== undefined) config.metrics.port = options.metricsPort;
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const part of started.reverse()) await part.stop();
  };
  try {
    const demo = await startDemoFetch(config);
    if (demo) started.push(demo);
    const bridge = await startBridge(config, options.log, {
      ...options.bridgeEnv,
      BRIDGE_SIGNING_SECRET: secret,
    });
    started.push({ stop: () => bridge.drain() });
    const edge = await startLocalEdge(options, bridge.url, secret);
    started.push(edge);
    return {
      ...edge,
      bridge,
      signingSecret: secret,
      // The bridge drains first, while the edge still relays what its in-flight calls send back.
      stop: async () => {
        await bridge.drain();
        await stopAll();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
