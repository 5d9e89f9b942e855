import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const wrangler = join(import.meta.dirname, '../node_modules/wrangler/bin/wrangler.js');

/** Where the KV lives: the local state `wrangler dev` uses, or the deployed namespace. */
export type Target = { kind: 'local'; persistTo?: string } | { kind: 'remote' };

/**
 * Local commands on one state, one at a time: two wrangler processes on the same local state
 * (the documents read beside the tool snapshots) failed about one time in ten, silently.
 */
const localQueues = new Map<string, Promise<unknown>>();

/** Workers KV through the `wrangler kv` commands, so that admins need nothing but wrangler's login. */
export class WranglerKv {
  private readonly target: Target;
  private readonly binding: string;

  constructor(target: Target, binding = 'GATEWAY_KV') {
    this.target = target;
    this.binding = binding;
  }

  private where(): string[] {
    if (this.target.kind === 'remote') return ['--remote'];
    return ['--local', ...(this.target.persistTo ? ['--persist-to', this.target.persistTo] : [])];
  }

  private wrangler(args: string[]): Promise<string> {
    if (this.target.kind === 'remote') return this.invoke(args);
    const state = this.target.persistTo ?? '';
    const next = (localQueues.get(state) ?? Promise.resolve()).then(() => this.invoke(args));
    localQueues.set(
      state,
      next.catch(() => undefined),
    );
    return next;
  }

  private async invoke(args: string[]): Promise<string> {
    try {
      const { stdout } = await run(
        process.execPath,
        [wrangler, ...args, '--binding', this.binding, ...this.where()],
        {
          env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
          maxBuffer: 64 * 1024 * 1024,
        },
      );
      return stdout;
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? String(error);
      throw new Error(
        `wrangler ${args.slice(0, 3).join(' ')} failed: ${stderr.trim().split('\n').slice(-3).join(' ')}`,
      );
    }
  }

  /** wrangler's bulk commands read a file: one only this user can read, removed afterwards. */
  private async withFile<T>(content: string, use: (file: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'mcpgw-'));
    try {
      const file = join(dir, 'bulk.json');
      writeFileSync(file, content, { mode: 0o600 });
      return await use(file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out = await this.wrangler(['kv', 'key', 'list', '--prefix', prefix]);
    const keys = JSON.parse(out.slice(out.indexOf('['))) as { name: string }[];
    return keys.map((k) => k.name);
  }

  async get(key: string): Promise<string | undefined> {
    const out = await this.wrangler(['kv', 'key', 'get', key, '--text']).catch((error: Error) => {
      if (/not found|404/i.test(error.message)) return undefined;
      throw error;
    });
    if (out === undefined || out.trim() === 'Value not found') return undefined;
    return out.replace(/\n$/, '');
  }

  /** Reads several keys in one call (`wrangler kv bulk get`): wrangler's start-up is the slow part. */
  async getMany(keys: string[]): Promise<Map<string, string>> {
    const values = new Map<string, string>();
    if (keys.length === 0) return values;
    const out = await this.withFile(JSON.stringify(keys), (file) =>
      this.wrangler(['kv', 'bulk', 'get', file]),
    );
    const found = JSON.parse(out.slice(out.indexOf('{'))) as Record<
      string,
      string | null | { value: string | null }
    >;
    for (const [key, raw] of Object.entries(found)) {
      const value = raw !== null && typeof raw === 'object' ? raw.value : raw;
      if (typeof value === 'string') values.set(key, value);
    }
    return values;
  }

  /** Writes several keys in one call (`wrangler kv bulk put`). */
  async putMany(entries: { key: string; value: string }[]): Promise<void> {
    if (entries.length === 0) return;
    await this.withFile(JSON.stringify(entries), (file) => this.wrangler(['kv', 'bulk', 'put', file]));
  }

  async delete(key: string): Promise<void> {
    await this.wrangler(['kv', 'key', 'delete', key]);
  }

  /** Deletes several keys in one call (`wrangler kv bulk delete`). */
  async deleteMany(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.withFile(JSON.stringify(keys), (file) =>
      this.wrangler(['kv', 'bulk', 'delete', file, '--force']),
    );
  }
}
