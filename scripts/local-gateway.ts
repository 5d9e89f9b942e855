import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningBridge, startBridge } from '../bridge/app.ts';
import { loadConfig } from '../bridge/config.ts';
import type { Logger } from '../bridge/log.ts';
import { sha256Hex } from '../shared/digest.ts';
import { parseDocument } from '../shared/document.ts';
import { apiKeyKey, documentKey } from '../shared/storage.ts';
import { type Started, startProcess } from '../test/helpers/process.ts';

const repo = join(import.meta.dirname, '..');
const wrangler = join(repo, 'node_modules/wrangler/bin/wrangler.js');

export interface LocalGateway {
  edgeUrl: string;
  bridge: RunningBridge;
  apiKey: string;
  /** The secret made for this run (benchmarks sign direct bridge calls with it). */
  signingSecret: string;
  servers: string[];
  stop(): Promise<void>;
}

export interface LocalOptions {
  bridgeConfig?: string;
  edgePort?: number;
  /** Let the OS pick the bridge's ports instead of the config's (tests running beside npm start). */
  freeBridgePorts?: boolean;
  log: Logger;
  /** Local KV state to use (default: a fresh folder per run); `mcpgw --local --persist-to` can share it. */
  persistTo?: string;
  /** Overrides wrangler.toml's DOCUMENT_CACHE_SECONDS (tests that change documents). */
  documentCacheSeconds?: number;
  /** Extra API keys to create: key → { principal, groups }. */
  keys?: Record<string, { principal: string; groups: string[] }>;
}

/** servers/*.json, validated, each pointed at the local bridge. */
function localDocuments(bridgeUrl: string): { name: string; text: string }[] {
  const dir = join(repo, 'servers');
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .map((file) => {
      const parsed = parseDocument(JSON.parse(readFileSync(join(dir, file), 'utf8')));
      if (!parsed.ok) throw new Error(`servers/${file}: ${parsed.problems.join('; ')}`);
      const doc = { ...parsed.document, upstream: { url: `${bridgeUrl}/${parsed.document.name}/mcp` } };
      return { name: doc.name, text: JSON.stringify(doc) };
    });
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<Started> {
  return startProcess(process.execPath, [wrangler, ...args], /./, { env, timeoutMs: 60_000 });
}

/**
 * The whole path on this machine: the bridge (signatures required) in this process, the
 * Worker under `wrangler dev` with local KV seeded from servers/*.json and a fresh API key,
 * and a signing secret made for this run only. No Cloudflare account, no cluster.
 */
export async function startLocalGateway(options: LocalOptions): Promise<LocalGateway> {
  const secret = randomBytes(32).toString('hex');
  const apiKey = `mcpgw_dev_${randomBytes(18).toString('base64url')}`;
  const config = await loadConfig(options.bridgeConfig ?? join(repo, 'examples/bridge.yaml'));
  config.edge.signatures = 'required';
  if (options.freeBridgePorts) {
    config.listen.port = 0;
    config.metrics.port = 0;
  }
  const bridge = await startBridge(config, options.log, { BRIDGE_SIGNING_SECRET: secret });
  let dev: Started | undefined;
  try {
    const state = await mkdtemp(join(tmpdir(), 'mcp-gateway-'));
    const kvState = options.persistTo ?? join(state, 'kv');
    const env = {
      ...process.env,
      WRANGLER_SEND_METRICS: 'false',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      NO_COLOR: '1',
    };
    const documents = localDocuments(bridge.url);
    const keys = { [apiKey]: { principal: 'developer', groups: ['developers'] }, ...options.keys };
    const entries = [
      ...documents.map((d) => ({ key: documentKey(d.name), value: d.text })),
      ...(await Promise.all(
        Object.entries(keys).map(async ([key, record]) => ({
          key: apiKeyKey(await sha256Hex(key)),
          value: JSON.stringify({ ...record, createdAt: new Date().toISOString() }),
        })),
      )),
    ];
    writeFileSync(join(state, 'seed.json'), JSON.stringify(entries));
    writeFileSync(join(state, 'secrets.env'), `BRIDGE_SIGNING_SECRET=${secret}\n`, { mode: 0o600 });
    const seed = await run(
      [
        'kv',
        'bulk',
        'put',
        '--local',
        '--binding',
        'GATEWAY_KV',
        '--persist-to',
        kvState,
        join(state, 'seed.json'),
      ],
      env,
    );
    await new Promise((resolve) => seed.child.once('exit', resolve));
    if (seed.child.exitCode !== 0) throw new Error(`seeding local KV failed:\n${seed.output()}`);
    const port = String(options.edgePort ?? 8787);
    dev = await startProcess(
      process.execPath,
      [
        wrangler,
        ...['dev', '--local', '--ip', '127.0.0.1', '--port', port, '--persist-to', kvState],
        ...(options.documentCacheSeconds === undefined
          ? []
          : ['--var', `DOCUMENT_CACHE_SECONDS:${options.documentCacheSeconds}`]),
        ...[
          '--env-file',
          join(state, 'secrets.env'),
          '--show-interactive-dev-session=false',
          '--log-level',
          'info',
        ],
      ],
      /Ready on (http:\/\/\S+)/,
      { env, timeoutMs: 60_000 },
    );
    const edgeUrl = /Ready on (http:\/\/[^\s]+)/.exec(dev.output())?.[1] ?? `http://127.0.0.1:${port}`;
    const running = dev;
    return {
      edgeUrl: edgeUrl.replace(/\/$/, ''),
      bridge,
      apiKey,
      signingSecret: secret,
      servers: documents.map((d) => d.name),
      async stop() {
        await running.stop();
        await bridge.drain();
      },
    };
  } catch (error) {
    await dev?.stop();
    await bridge.drain();
    throw error;
  }
}
