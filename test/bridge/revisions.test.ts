import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, fixture, post, startTestBridge, type TestBridge } from '../helpers/bridge.ts';

const revisions = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'];

type Answer = { result?: Record<string, unknown>; error?: { code: number; message: string } };

/** A client pinned to one revision, over plain HTTP: it sends what a client of that revision sends. */
async function pinnedSession(url: URL, version: string, capabilities: Record<string, object> = {}) {
  let session = '';
  let nextId = 1;
  const call = async (method: string, params: Record<string, unknown> = {}): Promise<Answer> => {
    const id = nextId++;
    const headers: Record<string, string> = session
      ? { 'mcp-session-id': session, 'mcp-protocol-version': version }
      : {};
    const response = await post(url, { jsonrpc: '2.0', id, method, params }, headers);
    session ||= response.headers.get('mcp-session-id') ?? '';
    const text = await response.text();
    const messages = (response.headers.get('content-type') ?? '').includes('text/event-stream')
      ? text
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => JSON.parse(line.slice(5)))
      : [JSON.parse(text)];
    return messages.find((m) => m.id === id) as Answer;
  };
  const init = await call('initialize', {
    protocolVersion: version,
    capabilities,
    clientInfo: { name: `pinned-${version}`, version: '1' },
  });
  await post(
    url,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { 'mcp-session-id': session, 'mcp-protocol-version': version },
  );
  return { version: init.result?.protocolVersion, call };
}

// Each isolated session starts a child: on a starved machine that is seconds each, not the verdict.
describe.each(['shared', 'isolated'] as const)(
  '%s server: each session speaks its own revision',
  { timeout: 120_000 },
  (mode) => {
    let bridge: TestBridge;
    let url: URL;

    beforeAll(async () => {
      bridge = await startTestBridge([{ name: 'fixture', transport: fixture, sessions: mode, pool: 1 }]);
      url = bridge.mcpUrl('fixture');
    }, 60_000);
    afterAll(() => bridge?.drain());

    it.each([
      ['oldest first', revisions],
      ['newest first', [...revisions].reverse()],
    ])('gets the revision it asked for, whatever order sessions come in (%s)', async (_, order) => {
      const sessions = [];
      for (const version of order) sessions.push(await pinnedSession(url, version));
      expect(sessions.map((s) => s.version)).toEqual(order);
      for (const session of sessions) {
        const listed = await session.call('tools/list');
        const tools = (listed.result?.tools ?? []) as { name: string }[];
        expect(tools.map((t) => t.name)).toContain('fault_echo');
      }
      // And the SDK's own client, which asks for the newest.
      const client = await connect(url);
      expect(client.getServerVersion()?.name).toBeDefined();
      await client.close();
    });

    it('answers an unknown revision with the server’s own', async () => {
      expect((await pinnedSession(url, '2023-01-01')).version).toBe('2025-11-25');
    });

    it('gives a 2024-11-05 session text where a later content type would break it, and later sessions the real thing', async () => {
      const [old, current] = [await pinnedSession(url, '2024-11-05'), await pinnedSession(url, '2025-11-25')];
      const audio = async (session: typeof old) =>
        (await session.call('tools/call', { name: 'test_audio_content', arguments: {} })).result?.content;
      expect(await audio(old)).toEqual([
        {
          type: 'text',
          text: '[audio content (audio/wav) omitted: MCP 2024-11-05 has no audio content]',
        },
      ]);
      expect(await audio(current)).toMatchObject([{ type: 'audio', mimeType: 'audio/wav' }]);
    });

    it('asks a question only of a session whose client declared the capability', async () => {
      const ask = { name: 'test_input_required_result_elicitation', arguments: {} };
      const without = await pinnedSession(url, '2025-11-25');
      const refused = await without.call('tools/call', ask);
      expect(JSON.stringify(refused)).toMatch(/did not declare elicitation|elicitation/i);
      expect(JSON.stringify(refused)).not.toContain('Hello, Ada');
      const client = await connect(url);
      client.setRequestHandler(
        (await import('@modelcontextprotocol/sdk/types.js')).ElicitRequestSchema,
        async () => ({ action: 'accept', content: { name: 'Ada' } }),
      );
      const answered = await client.callTool(ask);
      expect(answered.content).toEqual([{ type: 'text', text: 'Hello, Ada!' }]);
      await client.close();
    });
  },
);
