import { execFileSync } from 'node:child_process';
import type { ServerDocument } from '../shared/policy/document.ts';
import { documentKey } from '../shared/storage/kv.ts';
import { type Change, plan } from './plan.ts';
import type { WranglerKv } from './wrangler-kv.ts';

/** Where `apply` records what it applied, so `status` can say which commit is live. */
export const appliedKey = 'meta:applied';

export interface Applied {
  commit: string | null;
  dirty: boolean;
  at: string;
  servers: string[];
}

export interface Planned {
  desired: Map<string, string>;
  steps: Change[];
}

/** Reads the documents KV holds and compares them with the desired ones. */
export async function planDocuments(kv: WranglerKv, documents: ServerDocument[]): Promise<Planned> {
  return planAgainst(documents, await readDocuments(kv));
}

/** The documents KV holds, by key. */
export async function readDocuments(kv: WranglerKv): Promise<Map<string, string>> {
  return kv.getMany(await kv.list(documentKey('')));
}

/** The plan against documents already known (an empty map for a namespace known to be new). */
export function planAgainst(documents: ServerDocument[], current: Map<string, string>): Planned {
  const desired = new Map(documents.map((doc) => [documentKey(doc.name), JSON.stringify(doc)]));
  return { desired, steps: plan(desired, current) };
}

/** The repository's HEAD, and whether the working tree differs from it (undefined outside git). */
export function gitState(cwd = process.cwd()): { commit: string; dirty: boolean } | undefined {
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return { commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain').length > 0 };
  } catch {
    return undefined;
  }
}

/** Writes the plan's additions and changes (and `alsoWrite`) in one bulk put, then removes what the files no longer have. */
export async function applyPlan(
  kv: WranglerKv,
  { desired, steps }: Planned,
  alsoWrite: { key: string; value: string }[] = [],
): Promise<Applied> {
  const git = gitState();
  const applied: Applied = {
    commit: git?.commit ?? null,
    dirty: git?.dirty ?? false,
    at: new Date().toISOString(),
    servers: [...desired.keys()].map((key) => key.slice(documentKey('').length)).sort(),
  };
  const writes = steps
    .filter((s) => s.kind !== 'remove')
    .map((s) => ({ key: s.key, value: desired.get(s.key) ?? '' }));
  await kv.putMany([...writes, ...alsoWrite, { key: appliedKey, value: JSON.stringify(applied) }]);
  const removed = steps.filter((s) => s.kind === 'remove').map((s) => s.key);
  // One wrangler start for all of them: each start is seconds, more against a remote namespace.
  if (removed.length > 0) await kv.deleteMany(removed);
  return applied;
}
