import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { confirmKey } from '../../shared/policy/confirm.ts';
import type { Env } from '../../workers/env.ts';
import {
  bearer,
  call,
  mcp,
  open,
  putApiKey,
  putDocument,
  recorded,
  resetUpstream,
  streamText,
  upstream,
} from './helpers.ts';

/** A person's approval of a risky call, at the edge (workerd), a recording upstream standing where the bridge stands. */
const withBridge = (e: Env): Env => ({ ...e, BRIDGE_URL: `${upstream}/json/`, DOCUMENT_CACHE_SECONDS: '0' });
const args = { namespace: 'prod', pod: 'api-7f9c' };

interface Answer {
  result?: Record<string, unknown> & {
    resultType?: string;
    requestState?: string;
    inputRequests?: Record<string, { method: string; params: { message: string } }>;
  };
  error?: { code: number; message: string; data?: { reason?: string } };
}

const meta = (elicitation: boolean) => ({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': elicitation ? { elicitation: { form: {} } } : {},
});

/** A 2026-07-28 tools/call of pods_delete, with whatever more its params carry. */
async function modern(key: string, more: Record<string, unknown> = {}, elicitation = true): Promise<Answer> {
  const params = { name: 'pods_delete', arguments: args, _meta: meta(elicitation), ...more };
  const headers = {
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': 'tools/call',
    'mcp-name': 'pods_delete',
    ...bearer(key),
  };
  const message = { jsonrpc: '2.0', id: 9, method: 'tools/call', params };
  return (await (await call(mcp('ops', message, headers), withBridge(env))).json()) as Answer;
}

const accept = (requestState: string | undefined, action = 'accept') => ({
  requestState,
  inputResponses: { [confirmKey]: { action, content: {} } },
});

async function forwardedCalls(): Promise<unknown[]> {
  return (await recorded())
    .map((r) => JSON.parse(r.body))
    .filter((m) => m.method === 'tools/call')
    .map((m) => m.params);
}

describe("a person's approval before a risky call", () => {
  let logged: Record<string, unknown>[];
  beforeEach(async () => {
    logged = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => logged.push(JSON.parse(line)));
    await resetUpstream();
    await putDocument('ops', {
      version: 1,
      name: 'ops',
      access: { principals: ['alice', 'bob'] },
      policy: { tools: { allow: ['*'] } },
      confirm: [{ tools: ['pods_delete'] }],
      audit: { arguments: 'full' },
    });
    await putApiKey('alice-key', { principal: 'alice' });
    await putApiKey('bob-key', { principal: 'bob' });
    return () => log.mockRestore();
  });

  describe('2026-07-28: input_required with a sealed requestState', () => {
    it('asks, naming the server, the tool and the arguments; an accepted retry is forwarded exactly, once', async () => {
      const asked = await modern('alice-key');
      expect(asked.result?.resultType).toBe('input_required');
      const question = asked.result?.inputRequests?.[confirmKey];
      expect(question?.method).toBe('elicitation/create');
      expect(question?.params.message).toBe(
        'Allow the call of "pods_delete" on the MCP server "ops"?\nnamespace: "prod"\npod: "api-7f9c"',
      );
      expect(await forwardedCalls()).toEqual([]);
      const state = asked.result?.requestState;
      const approved = await modern('alice-key', accept(state));
      expect(approved.error).toBeUndefined();
      expect(await forwardedCalls()).toEqual([{ name: 'pods_delete', arguments: args, _meta: meta(true) }]);
      const audit = logged.filter((l) => l.event === 'mcp.tools.call' && l.decision === 'allowed');
      expect(audit).toEqual([
        expect.objectContaining({ principal: 'alice', tool: 'pods_delete', arguments: args }),
      ]);
      expect(audit[0]?.approval).toEqual({ by: 'alice', at: expect.stringMatching(/^20\d\d-/) });
      // Replayed: refused, never forwarded again.
      const replayed = await modern('alice-key', accept(state));
      expect(replayed.error?.message).toContain('requestState was already used');
      expect(await forwardedCalls()).toHaveLength(1);
    });

    it('refuses a declined call, and a tampered, borrowed or re-aimed state; none is forwarded', async () => {
      const state = (await modern('alice-key')).result?.requestState ?? '';
      const declined = await modern('alice-key', accept(state, 'decline'));
      expect(declined.error).toMatchObject({ code: -32005, data: { reason: 'declined' } });
      expect(declined.error?.message).toContain('You did not approve the call of "pods_delete"');
      // One character changed, whichever it was (a guess from the last one left it as it was once in 64).
      const flipped = state.slice(0, -2) + (state.at(-2) === 'A' ? 'B' : 'A') + state.slice(-1);
      expect((await modern('alice-key', accept(flipped))).error?.message).toContain(
        'requestState is not one the gateway gave you',
      );
      // Bob cannot use alice's approval, nor can alice aim it at other arguments.
      expect((await modern('bob-key', accept(state))).error?.data?.reason).toBe('approval_invalid');
      const other = await modern('alice-key', { ...accept(state), arguments: { namespace: 'kube-system' } });
      expect(other.error?.message).toContain('requestState was given for another call');
      // Nor can a state the gateway did not give skip the question.
      expect((await modern('alice-key', accept('server-state-1'))).error?.data?.reason).toBe(
        'approval_invalid',
      );
      expect(await forwardedCalls()).toEqual([]);
      const audit = logged.filter((l) => l.event === 'mcp.tools.call').map((l) => l.decision);
      expect(audit).toContain('declined');
    });

    it('tells a client without elicitation why the call was not made', async () => {
      const answer = await modern('alice-key', {}, false);
      expect(answer.error).toMatchObject({ code: -32005, data: { reason: 'approval_no_elicitation' } });
      expect(answer.error?.message).toContain('this client cannot ask you (it did not declare elicitation)');
      expect(await forwardedCalls()).toEqual([]);
    });
  });

  describe('2025-11-25: elicitation/create on the call’s stream', () => {
    const session = { 'mcp-session-id': 'rec.1', 'mcp-protocol-version': '2025-11-25' };
    async function initialize(key: string, capabilities: Record<string, unknown>) {
      const params = { protocolVersion: '2025-11-25', capabilities, clientInfo: { name: 't', version: '1' } };
      const message = { jsonrpc: '2.0', id: 0, method: 'initialize', params };
      await call(mcp('ops', message, bearer(key)), withBridge(env));
    }
    const callDelete = (key: string) =>
      open(
        mcp(
          'ops',
          { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'pods_delete', arguments: args } },
          { ...bearer(key), ...session },
        ),
        withBridge(env),
      );
    const answer = (key: string, id: string, action: string) =>
      call(
        mcp('ops', { jsonrpc: '2.0', id, result: { action, content: {} } }, { ...bearer(key), ...session }),
        withBridge(env),
      );

    async function question(stream: ReturnType<typeof streamText>) {
      await stream.read((t) => t.includes('elicitation/create'), 10_000);
      const data = /data: (.*)\n/.exec(stream.text)?.[1] ?? '{}';
      return JSON.parse(data) as { id: string; method: string; params: { message: string } };
    }

    it('asks on the stream; once accepted, the call goes on and its answer follows on the same stream', async () => {
      await initialize('alice-key', { elicitation: {} });
      const stream = streamText(await callDelete('alice-key'));
      const asked = await question(stream);
      expect(asked.method).toBe('elicitation/create');
      expect(asked.params.message).toContain('"pods_delete" on the MCP server "ops"');
      expect(await forwardedCalls()).toEqual([]);
      // Another person's answer does not reach alice's question.
      expect((await answer('bob-key', asked.id, 'accept')).status).toBe(202);
      expect((await answer('alice-key', asked.id, 'accept')).status).toBe(202);
      await stream.read((t) => t.includes('"id":3'), 10_000);
      expect(stream.text).toContain('"result":{"content":[{"type":"text","text":"called pods_delete');
      expect(await forwardedCalls()).toEqual([{ name: 'pods_delete', arguments: args }]);
    });

    it('refuses on the stream when declined, and at once when the session cannot be asked', async () => {
      await initialize('alice-key', { elicitation: {} });
      const stream = streamText(await callDelete('alice-key'));
      const asked = await question(stream);
      await answer('alice-key', asked.id, 'decline');
      await stream.read((t) => t.includes('"id":3'), 10_000);
      expect(stream.text).toContain('You did not approve the call of \\"pods_delete\\"');
      await initialize('alice-key', {});
      const response = await call(
        mcp(
          'ops',
          { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'pods_delete', arguments: args } },
          { ...bearer('alice-key'), ...session },
        ),
        withBridge(env),
      );
      expect(await response.json()).toMatchObject({ error: { data: { reason: 'approval_no_elicitation' } } });
      expect(await forwardedCalls()).toEqual([]);
    });
  });
});
