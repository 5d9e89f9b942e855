import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeServer } from '../fixtures/native.ts';
import { connect, startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { modernClient } from '../helpers/modern.ts';

describe('a Streamable HTTP server that speaks 2026-07-28 itself', () => {
  let bridge: TestBridge;
  let native: ReturnType<typeof nativeServer>;
  let url: URL;

  beforeAll(async () => {
    native = nativeServer();
    await new Promise<void>((resolve) => native.server.listen(0, '127.0.0.1', resolve));
    const { port } = native.server.address() as AddressInfo;
    bridge = await startTestBridge([
      { name: 'native', transport: { type: 'streamable-http', url: `http://127.0.0.1:${port}/mcp` } },
    ]);
    url = bridge.mcpUrl('native');
  });
  afterAll(async () => {
    await bridge?.drain();
    await native?.handler.close();
    await new Promise((resolve) => (native?.server as Server | undefined)?.close(resolve));
  });

  it('gets 2026-07-28 requests passed through: no initialize from the bridge, its own answers', async () => {
    const client = await modernClient(url);
    try {
      expect(client.getDiscoverResult()?._meta?.['io.modelcontextprotocol/serverInfo']).toMatchObject({
        name: 'native-2026',
      });
      const result = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
      expect(result.content).toEqual([{ type: 'text', text: 'native: hi' }]);
    } finally {
      await client.close();
    }
    expect(native.seen.some((line) => line.includes('initialize'))).toBe(false);
    expect(native.seen).toContain('POST 2026-07-28 tools/call');
  });

  it("passes the server's own input_required through, and the retry reaches it", async () => {
    const client = await modernClient(url, {
      elicitation: async () => ({ action: 'accept', content: { who: 'Ada' } }),
    });
    try {
      const result = await client.callTool({ name: 'confirm', arguments: {} });
      expect(result.content).toEqual([{ type: 'text', text: 'confirmed by Ada' }]);
    } finally {
      await client.close();
    }
  });

  it('survives a client leaving a passed-through stream mid-way, and serves the next request', async () => {
    const client = await modernClient(url);
    try {
      const subscription = await client.listen({ toolsListChanged: true });
      await subscription.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const result = await client.callTool({ name: 'echo', arguments: { text: 'still here' } });
      expect(result.content).toEqual([{ type: 'text', text: 'native: still here' }]);
    } finally {
      await client.close();
    }
  });

  it('still serves 2025-11-25 clients, through a session of their own', async () => {
    const legacy = await connect(url, 'legacy');
    try {
      const result = await legacy.callTool({ name: 'echo', arguments: { text: 'old' } });
      expect(result.content).toEqual([{ type: 'text', text: 'native: old' }]);
    } finally {
      await legacy.close();
    }
    expect(native.seen.some((line) => line.endsWith('- -') || line.includes('2025-11-25'))).toBe(true);
  });
});
