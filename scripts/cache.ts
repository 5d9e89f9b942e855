import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** This project's folder in the user's cache, kept across clones: ~/.cache/mcp-edge-gateway/<name>. */
export function userCache(name: string): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'mcp-edge-gateway', name);
}

/**
 * The folder `dir`, made by `make` the first time. It is made in a sibling folder and renamed
 * into place when complete, so that an interrupted run leaves nothing that looks finished, and
 * two runs at once end with one copy (either, since both made the same thing).
 */
export async function buildOnce(dir: string, make: (into: string) => Promise<void>): Promise<string> {
  if (existsSync(dir)) return dir;
  mkdirSync(dirname(dir), { recursive: true });
  const building = mkdtempSync(`${dir}.building-`);
  try {
    await make(building);
    if (!existsSync(dir)) renameSync(building, dir);
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return dir;
}
