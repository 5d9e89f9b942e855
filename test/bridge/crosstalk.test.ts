import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, fixture, startTestBridge, type TestBridge, until } from '../helpers/bridge.ts';

const sessions = 16;
const callsPerSession = 25;

function textOf(result: Awaited<ReturnType<Client['callTool']>>): string {
  const [first] = result.content as { type: string; text: string }[];
  return first?.text ?? '';
}

describe.each(['isolated', 'shared'] as const)(
  '%s sessions: 16 concurrent clients, no cross-talk',
  (mode) => {
    let bridge: TestBridge;
    let clients: Client[];

    beforeAll(async () => {
      bridge = await startTestBridge([{ name: 'fixture', transport: fixture, sessions: mode, pool: 4 }]);
      clients = await Promise.all(
        Array.from({ length: sessions }, (_, i) => connect(bridge.mcpUrl('fixture'), `c${i}`)),
      );
    }, 120_000); // up to 12 cold child starts at once
    afterAll(async () => {
      await Promise.all(clients?.map((c) => c.close()) ?? []);
      await bridge?.drain();
    });

    it('matches every response to its sender', async () => {
      const results = await Promise.all(
        clients.map(async (client, s) => {
          const calls = Array.from({ length: callsPerSession }, (_, c) =>
            client.callTool({ name: 'fault_echo', arguments: { tag: `s${s}-c${c}` } }),
          );
          return (await Promise.all(calls)).map(textOf);
        }),
      );
      const pids = new Set<string>();
      results.forEach((texts, s) => {
        texts.forEach((text, c) => {
          const [tag, pid] = text.split('@');
          expect(tag).toBe(`s${s}-c${c}`);
          pids.add(pid ?? '');
        });
      });
      expect(pids.size).toBe(mode === 'isolated' ? sessions : 1);
    });

    it("delivers a client's cancellation to the call it names", async () => {
      const [caller, observer] = clients as [Client, Client];
      const abort = new AbortController();
      let started: () => void = () => undefined;
      const waiting = new Promise<void>((resolve) => {
        started = resolve;
      });
      // Cancelled once the server says it is waiting: a cancel sent earlier could overtake the call.
      const call = caller.callTool({ name: 'fault_wait_for_cancel', arguments: {} }, undefined, {
        signal: abort.signal,
        onprogress: () => started(),
      });
      await waiting;
      abort.abort('changed my mind');
      await expect(call).rejects.toThrow();
      const target = mode === 'shared' ? observer : caller;
      const counted = await until(async () => {
        const n = textOf(await target.callTool({ name: 'fault_cancelled', arguments: {} }));
        return n === '1' ? n : undefined;
      }, 'cancellation reached the server');
      expect(counted).toBe('1');
    });

    it('keeps progress notifications with the request that asked for them', async () => {
      const seen = await Promise.all(
        clients.slice(0, 4).map(async (client, s) => {
          const tokens: number[] = [];
          await client.callTool({ name: 'fault_progress', arguments: { steps: 3, tag: s } }, undefined, {
            onprogress: (p) => tokens.push(Number(p.message)),
          });
          return tokens;
        }),
      );
      expect(seen).toEqual(seen.map((_, s) => [s, s, s]));
    });
  },
);
