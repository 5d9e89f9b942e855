import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';

export interface GatewayFiles {
  bridgeConfig: string;
  documentsDir: string;
}

/**
 * A copy of a bridge config and its documents with one more server, in a folder of its own.
 * stdio children keep the folder they ran in: a `cwd` is relative to the config it came from.
 */
export async function withOneMore(
  base: GatewayFiles,
  server: { name: string; transport: Record<string, unknown> },
  document: Record<string, unknown>,
): Promise<GatewayFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-files-'));
  const config = parse(readFileSync(base.bridgeConfig, 'utf8'));
  for (const { transport } of config.servers) {
    if (transport.type === 'stdio') transport.cwd = resolve(dirname(base.bridgeConfig), transport.cwd ?? '.');
  }
  config.servers.push(server);
  writeFileSync(join(dir, 'bridge.yaml'), stringify(config));
  cpSync(base.documentsDir, join(dir, 'servers'), { recursive: true });
  writeFileSync(
    join(dir, 'servers', `${server.name}.json`),
    JSON.stringify({ version: 1, ...document, name: server.name }),
  );
  return { bridgeConfig: join(dir, 'bridge.yaml'), documentsDir: join(dir, 'servers') };
}
