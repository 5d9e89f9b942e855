import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../bridge/log.ts';
import { type LocalGateway, startLocalGateway } from '../../scripts/local-gateway.ts';
import { freePort } from '../../scripts/processes.ts';
import { repo } from './bridge.ts';
import { withOneMore } from './gateway-files.ts';

export interface AdminGateway {
  gateway: LocalGateway;
  /** A copy of servers/ (under `servers/`) and the local KV state (under `kv/`). */
  root: string;
  /** The arguments that point `mcpgw` at this gateway's local KV and file copy. */
  local: string[];
}

/**
 * The whole path under `wrangler dev`, with a copy of servers/ an admin can edit and apply with
 * `mcpgw --local`, as they are: the Worker finds this run's bridge through BRIDGE_URL.
 * Documents are re-read after 1 s, so an applied change shows up quickly. `more`: one more
 * server (its bridge transport and document) beside those of servers/.
 */
export async function startAdminGateway(
  prefix: string,
  onAudit?: (event: Record<string, unknown>) => void,
  more?: { name: string; bridge: Record<string, unknown>; document: Record<string, unknown> },
): Promise<AdminGateway> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const servers = join(root, 'servers');
  cpSync(join(repo, 'servers'), servers, { recursive: true });
  let bridgeConfig: string | undefined;
  if (more !== undefined) {
    const base = { bridgeConfig: join(repo, 'examples/bridge.yaml'), documentsDir: servers };
    const files = await withOneMore(base, { name: more.name, transport: more.bridge }, more.document);
    cpSync(files.documentsDir, servers, { recursive: true });
    bridgeConfig = files.bridgeConfig;
  }
  const local = ['--local', '--persist-to', join(root, 'kv'), '--dir', servers];
  const gateway = await startLocalGateway({
    ...(bridgeConfig ? { bridgeConfig } : {}),
    documentsDir: servers,
    edgePort: await freePort(),
    freeBridgePorts: true,
    persistTo: join(root, 'kv'),
    documentCacheSeconds: 1,
    log: createLogger('error'),
    ...(onAudit ? { onAudit } : {}),
  });
  return { gateway, root, local };
}

/** One server of a test gateway: its bridge entry, and the document the edge enforces for it. */
export interface TestServer {
  bridge: Record<string, unknown>;
  document: Record<string, unknown>;
}

/**
 * The whole path with the given servers (name → bridge entry and document) and API keys
 * (key → principal): each document gets its name and version, the rest is the test's. The
 * Worker runs as deployed: its `wrangler deploy` bundle in workerd.
 */
export async function startGatewayWith(
  prefix: string,
  servers: Record<string, TestServer>,
  keys: Record<string, string>,
): Promise<LocalGateway> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const bridgeConfig = join(root, 'bridge.json');
  const entries = Object.entries(servers).map(([name, server]) => ({ name, ...server.bridge }));
  writeFileSync(bridgeConfig, JSON.stringify({ version: 1, servers: entries }));
  const documentsDir = join(root, 'servers');
  mkdirSync(documentsDir);
  for (const [name, server] of Object.entries(servers)) {
    const document = { version: 1, name, ...server.document };
    writeFileSync(join(documentsDir, `${name}.json`), JSON.stringify(document));
  }
  const principals = Object.entries(keys).map(([key, principal]) => [key, { principal, groups: [] }]);
  return startLocalGateway({
    bridgeConfig,
    documentsDir,
    edgePort: await freePort(),
    freeBridgePorts: true,
    log: createLogger('error'),
    keys: Object.fromEntries(principals),
    edge: 'deployed-bundle',
  });
}
