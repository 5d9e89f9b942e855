import { createExecutionContext, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../workers/index.ts';
import { bearer, origin, putApiKey, putDocument, streamText, upstream } from './helpers.ts';

const doc = (allow: string[]) => ({
  version: 1,
  name: 'watched',
  upstream: { url: `${upstream}/json/watched/mcp` },
  access: { groups: ['viewers'] },
  policy: { tools: { allow } },
});

describe('a document change reaches open streams', () => {
  it('sends notifications/tools/list_changed on the GET stream, between whole events', async () => {
    await putDocument('watched', doc(['echo']));
    await putApiKey('viewer-key', { principal: 'alice', groups: ['viewers'] });
    const request = new Request(`${origin}/watched/mcp`, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': 'rec.1', ...bearer('viewer-key') },
    });
    const response = await worker.fetch(
      request as never,
      { ...env, DOCUMENT_CACHE_SECONDS: '1' },
      createExecutionContext(),
    );
    expect(response.status).toBe(200);
    const stream = streamText(response);
    await stream.read((t) => t.includes(': keepalive'), 3000);
    expect(stream.text).not.toContain('list_changed');
    await putDocument('watched', doc(['echo', 'pods_list']));
    await stream.read((t) => t.includes('list_changed'), 8000);
    await stream.cancel();
    const { text } = stream;
    expect(text).toContain(
      'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n\n',
    );
    expect(
      text
        .split('\n\n')
        .every(
          (event) => event === '' || event.startsWith(': keepalive') || event.startsWith('event: message'),
        ),
    ).toBe(true);
  });

  it('drops updates about resources the principal may not read from the stream, keeps the rest', async () => {
    await putDocument('watched', {
      ...doc(['echo']),
      policy: {
        tools: { allow: ['echo'] },
        resources: { allow: ['demo://docs/*'], deny: ['demo://docs/secret*'] },
      },
    });
    await putApiKey('viewer-key', { principal: 'alice', groups: ['viewers'] });
    const request = new Request(`${origin}/watched/mcp`, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': 'rec.1', ...bearer('viewer-key') },
    });
    const response = await worker.fetch(request as never, env, createExecutionContext());
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const deadline = Date.now() + 20_000;
    while (!text.includes(': keepalive') && Date.now() < deadline) {
      const next = await reader.read();
      if (next.done) break;
      text += decoder.decode(next.value, { stream: true });
    }
    await reader.cancel();
    expect(text).toContain('"uri":"demo://docs/readme.md"');
    expect(text).not.toContain('secret');
  });
});
