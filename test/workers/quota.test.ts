import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../../workers/env.ts';
import {
  bearer,
  call,
  mcp,
  putApiKey,
  putDocument,
  recorded,
  recordingEnv,
  resetUpstream,
  upstream,
} from './helpers.ts';

const calls = (name: string, id = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: {} },
});
const withBridge = (e: Env): Env => ({ ...e, BRIDGE_URL: `${upstream}/json/`, DOCUMENT_CACHE_SECONDS: '0' });

interface Answer {
  result?: unknown;
  error?: { code: number; message: string; data?: { retryAfterSeconds?: number } };
}

async function ask(key: string, tool: string, e: Env = withBridge(env)): Promise<Answer> {
  return (await (await call(mcp('ops', calls(tool), bearer(key)), e)).json()) as Answer;
}

describe('quotas per person × server × tool, counted by a Durable Object', () => {
  beforeEach(async () => {
    // Each call's audit line: not what these tests read.
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    await resetUpstream();
    await putDocument('ops', {
      version: 1,
      name: 'ops',
      access: { groups: ['viewers', 'operators'] },
      policy: { tools: { allow: ['*'] } },
      quotas: [
        { tools: ['pods_delete'], limit: 3, per: 'hour' },
        { tools: ['*_list'], limit: 2, per: 'minute', groups: ['viewers'] },
      ],
      audit: { arguments: 'none' },
    });
    for (const [person, groups] of [
      ['alice', ['operators']],
      ['bob', ['operators']],
      ['carol', ['operators']],
      ['vic', ['viewers']],
    ] as const) {
      await putApiKey(`${person}-key`, { principal: person, groups });
    }
    return () => log.mockRestore();
  });

  it('refuses at exactly the configured count for one person, with when to retry; another is unaffected', async () => {
    const { env: e, points } = recordingEnv();
    for (let i = 0; i < 3; i++)
      expect((await ask('alice-key', 'pods_delete', withBridge(e))).error).toBeUndefined();
    const over = await ask('alice-key', 'pods_delete', withBridge(e));
    expect(over.error?.code).toBe(-32029);
    expect(over.error?.message).toContain('3 calls of "pods_delete" per hour');
    expect(over.error?.data?.retryAfterSeconds).toBeGreaterThan(0);
    expect(over.error?.data?.retryAfterSeconds).toBeLessThanOrEqual(3600);
    // Never forwarded: the bridge saw three calls.
    expect(await recorded()).toHaveLength(3);
    for (let i = 0; i < 3; i++) expect((await ask('bob-key', 'pods_delete')).error).toBeUndefined();
    // Another tool of alice's is not counted against it.
    expect((await ask('alice-key', 'pods_get')).error).toBeUndefined();
    expect(points.filter((p) => JSON.stringify(p).includes('quota_exceeded'))).toHaveLength(1);
  });

  it('counts exactly under concurrency: of 12 calls at once, 3 pass', async () => {
    const answers = await Promise.all(Array.from({ length: 12 }, () => ask('carol-key', 'pods_delete')));
    expect(answers.filter((a) => a.error === undefined)).toHaveLength(3);
    expect(answers.filter((a) => a.error?.code === -32029)).toHaveLength(9);
    expect(await recorded()).toHaveLength(3);
  });

  it('applies a quota to the groups it names only, each tool a pattern names on its own', async () => {
    for (const tool of ['pods_list', 'nodes_list']) {
      for (let i = 0; i < 2; i++) expect((await ask('vic-key', tool)).error).toBeUndefined();
      expect((await ask('vic-key', tool)).error?.code).toBe(-32029);
    }
    for (let i = 0; i < 4; i++) expect((await ask('alice-key', 'pods_list')).error).toBeUndefined();
  });

  it('fails closed when the document has quotas and the edge has no counter binding', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const response = await call(
        mcp('ops', calls('pods_delete'), bearer('alice-key')),
        withBridge({ ...env, QUOTAS: undefined }),
      );
      expect(response.status).toBe(500);
      expect(error.mock.calls.map(([line]) => String(line)).join('\n')).toContain('QUOTAS');
      expect(await recorded()).toEqual([]);
    } finally {
      error.mockRestore();
    }
  });
});
