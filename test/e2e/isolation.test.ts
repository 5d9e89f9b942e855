import type { Client as ModernClient } from '@modelcontextprotocol/client';
import type { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalGateway } from '../../scripts/local-gateway.ts';
import { startGatewayWith } from '../helpers/admin-gateway.ts';
import { connect, fixtureServer, metricsText, sample } from '../helpers/bridge.ts';
import { modernClient } from '../helpers/modern.ts';

const rounds = 50;
const alice = 'mcpgw_test_alice_0123456789abcdef';
const bob = 'mcpgw_test_bob_0123456789abcdefgh';

type AnyClient = LegacyClient | ModernClient;

async function say(client: AnyClient, tool: 'remember' | 'recall', value?: string): Promise<string> {
  const result = await client.callTool({ name: tool, arguments: value === undefined ? {} : { value } });
  const content = result.content as { type: string; text: string }[];
  return content[0]?.text ?? '';
}

/** Alice and bob take turns: each stores a value of their own, then reads back what the server remembers. */
async function interleave(clients: { alice: AnyClient; bob: AnyClient }) {
  const recalled: { who: 'alice' | 'bob'; stored: string; recalled: string; other: string }[] = [];
  for (let round = 0; round < rounds; round += 1) {
    for (const who of ['alice', 'bob'] as const) {
      const stored = `${who}-${round}`;
      await say(clients[who], 'remember', stored);
      const other = who === 'alice' ? 'bob' : 'alice';
      // The other person reads between the store and the owner's read, on whatever child they get.
      const seenByOther = await say(clients[other], 'recall');
      recalled.push({ who, stored, other: seenByOther, recalled: await say(clients[who], 'recall') });
    }
  }
  return recalled;
}

const memoDocument = {
  access: { principals: ['alice', 'bob'] },
  policy: { tools: { allow: ['remember', 'recall'] }, prompts: {}, resources: {} },
};

/**
 * A server that remembers its client, behind the edge and the bridge, used by two people in turn:
 * isolated mode keeps each person's memory to that person on both revisions (2026-07-28 clients
 * lease children per request; each child is bound to the first person it serves); shared mode,
 * where the admin declared the server stateless, shares one memory, as documented.
 */
describe('isolation between people, through the Worker and the bridge', { timeout: 240_000 }, () => {
  let gateway: LocalGateway;
  const url = (server: string) => new URL(`${gateway.edgeUrl}/${server}/mcp`);

  beforeAll(async () => {
    const transport = { type: 'stdio', command: process.execPath, args: [fixtureServer] };
    gateway = await startGatewayWith(
      'isolation-',
      {
        memo: { bridge: { transport, sessions: 'isolated', pool: 1 }, document: memoDocument },
        'memo-shared': { bridge: { transport, sessions: 'shared', pool: 1 }, document: memoDocument },
      },
      { [alice]: 'alice', [bob]: 'bob' },
    );
  }, 120_000);
  afterAll(() => gateway?.stop());

  const clientsOn = async (server: string, open: (url: URL, token: string) => Promise<AnyClient>) => ({
    alice: await open(url(server), alice),
    bob: await open(url(server), bob),
  });
  const modern = (u: URL, token: string) => modernClient(u, { token });
  const legacy = (u: URL, token: string) => connect(u, 'legacy', token);
  const closeAll = (clients: Record<string, AnyClient>) =>
    Promise.all(Object.values(clients).map((c) => c.close()));

  it('2026-07-28, isolated: bob never recalls what alice stored, and alice always recalls her own', async () => {
    const clients = await clientsOn('memo', modern);
    try {
      const recalled = await interleave(clients);
      expect(recalled.filter((r) => r.recalled !== r.stored || r.other.startsWith(r.who))).toEqual([]);
      const metrics = await metricsText(gateway.bridge);
      expect(sample(metrics, 'mcp_bridge_lease_owners', { server: 'memo' })).toBe(2);
      expect(sample(metrics, 'mcp_bridge_child_processes', { server: 'memo', state: 'bound' })).toBe(2);
    } finally {
      await closeAll(clients);
    }
  });

  it('2025-11-25 sessions, isolated: each session keeps its own memory', async () => {
    const clients = await clientsOn('memo', legacy);
    try {
      const recalled = await interleave(clients);
      expect(recalled.filter((r) => r.recalled !== r.stored || r.other.startsWith(r.who))).toEqual([]);
    } finally {
      await closeAll(clients);
    }
  });

  it('shared mode, either revision: one memory for everyone, as the admin declared the server stateless', async () => {
    for (const open of [modern, legacy]) {
      const clients = await clientsOn('memo-shared', open);
      try {
        await say(clients.alice, 'remember', `from-alice-${open.name}`);
        expect(await say(clients.bob, 'recall')).toBe(`from-alice-${open.name}`);
      } finally {
        await closeAll(clients);
      }
    }
  });
});
