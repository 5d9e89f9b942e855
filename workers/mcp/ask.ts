import type { JSONRPCMessage, RequestId } from '../../shared/protocol/jsonrpc.ts';
import { errorOf } from '../../shared/protocol/refusal.ts';
import { sseData } from '../../shared/protocol/sse.ts';
import type { Approval } from './approval.ts';
import { refused } from './meter.ts';
import type { McpRequest, Passage } from './passage.ts';

const encoder = new TextEncoder();

function event(message: unknown): Uint8Array {
  return encoder.encode(sseData(JSON.stringify(message)));
}

/**
 * A 2025-11-25 call that needs the person's approval: its answer is an event stream that
 * carries the gateway's question first, then, once they answer, the call's own answer (the
 * bridge's events as they come), or the refusal.
 */
export function askFirst(
  x: McpRequest,
  passage: Passage,
  ask: Extract<Approval, { kind: 'ask' }>,
  id: RequestId | null,
  then: (message: JSONRPCMessage) => Promise<Response>,
): Response {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const run = async () => {
    await writer.write(event(ask.question));
    const decision = await ask.decision();
    if (decision.kind !== 'go') {
      const refusal = decision.kind === 'refuse' ? decision.refusal : { kind: 'internal_error' as const };
      const answer = refused(x, passage, refusal, id);
      await writer.write(event(await answer.json()));
      return;
    }
    const response = await then(decision.message);
    const streamed = response.headers.get('content-type')?.startsWith('text/event-stream');
    if (streamed && response.body) {
      const reader = response.body.getReader();
      for (let read = await reader.read(); !read.done; read = await reader.read())
        await writer.write(read.value);
      return;
    }
    const text = await response.text();
    if (text.length > 0) await writer.write(event(JSON.parse(text)));
  };
  x.ctx.waitUntil(
    run()
      .catch(async () => writer.write(event(errorOf({ kind: 'internal_error' }, id))).catch(() => undefined))
      .finally(() => writer.close().catch(() => undefined)),
  );
  return new Response(readable, {
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
  });
}
