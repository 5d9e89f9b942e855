import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, type Started, startProcess } from '../scripts/processes.ts';

const repo = join(import.meta.dirname, '..');

export interface WholePath {
  /** The `everything` server's MCP endpoint at the edge. */
  url: URL;
  headers: Record<string, string>;
  /** `npm start`'s script: the bridge runs in it; wrangler, workerd and the servers under it. */
  process: Started;
}

/**
 * Client → edge Worker (wrangler dev: API key, policy, metering, signing) → bridge → stdio, as
 * `npm start` starts it, in processes of its own: one stdio server, `everything`, with this
 * command and a warm pool.
 */
export async function startWholePath(
  dir: string,
  server: { command: string; args: string[] },
  pool: number,
): Promise<WholePath> {
  const config = join(dir, 'whole.json');
  writeFileSync(
    config,
    JSON.stringify({
      version: 1,
      listen: { port: 0 },
      metrics: { port: 0 },
      servers: [{ name: 'everything', transport: { type: 'stdio', ...server }, pool }],
    }),
  );
  const port = await freePort();
  const started = await startProcess(
    process.execPath,
    [
      join(repo, 'scripts/start.ts'),
      ...['--port', String(port), '--config', config],
      '--state',
      join(dir, 'st'),
    ],
    /Ctrl-C stops/,
    // Its log is a line per request (wrangler's and the bridge's): written to a file, not read by the client.
    { timeoutMs: 120_000, logFile: join(dir, 'whole.log') },
  );
  const key = /Authorization: Bearer (mcpgw_dev_\S+)/.exec(started.output())?.[1] ?? '';
  return {
    url: new URL(`http://127.0.0.1:${port}/everything/mcp`),
    headers: { authorization: `Bearer ${key}` },
    process: started,
  };
}
