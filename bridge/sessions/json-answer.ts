import { sseData } from '../../shared/protocol/sse.ts';

const encoder = new TextEncoder();
/** What comes before an event's data: as `sseData` writes it without an id, and the SDK's writer alike. */
const messageEvent = encoder.encode(sseData('').slice(0, -'\n\n'.length));
const newline = 10;
type Read = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

/** How long a POST's answer may keep its headers waiting for a first event: then it is a stream. */
export const firstEventWaitMs = 1000;

/**
 * A POST's SSE answer as one JSON body, when the first event written on it is its answer: the
 * SDK's transport opens a stream for every POST, and one JSON body is cheaper to write and to
 * read (the client accepts either). Anything written before the answer (progress, a question
 * for the client), or no event within `waitMs`, and the stream goes on as it was, from its
 * first byte: a long call still gets its headers, and keep-alives, early.
 */
export async function jsonWhenAnsweredFirst(
  response: Response,
  answeredFirst: () => boolean,
  waitMs = firstEventWaitMs,
): Promise<Response> {
  const body = response.body;
  if (response.status !== 200 || body === null || !isEventStream(response.headers)) return response;
  const reader = body.getReader();
  const first = reader.read();
  let timer: NodeJS.Timeout | undefined;
  const waited = await Promise.race([
    first,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), waitMs);
    }),
  ]);
  clearTimeout(timer);
  const data = waited !== undefined && !waited.done && answeredFirst() ? eventData(waited.value) : undefined;
  if (data === undefined) {
    return new Response(resumed(reader, first), { status: response.status, headers: response.headers });
  }
  // The answer was the stream's last event too (the SDK ends it there): nothing more to read.
  reader.releaseLock();
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const session = response.headers.get('mcp-session-id');
  if (session !== null) headers['mcp-session-id'] = session;
  return new Response(data, { status: 200, headers });
}

function isEventStream(headers: Headers): boolean {
  return headers.get('content-type')?.startsWith('text/event-stream') === true;
}

/**
 * The JSON of one message event, `event: message`, then one `data:` line, as the SDK's
 * transport and sessions/events.ts write each event in one chunk; undefined for anything
 * else (a keep-alive comment, an event with an id).
 */
export function eventData(chunk: Uint8Array): Uint8Array | undefined {
  const end = chunk.length - 2;
  if (end <= messageEvent.length || chunk[end] !== newline || chunk[end + 1] !== newline) return undefined;
  for (let i = 0; i < messageEvent.length; i++) if (chunk[i] !== messageEvent[i]) return undefined;
  return chunk.subarray(messageEvent.length, end);
}

/** The rest of a stream whose first read is `first`, as a stream again: nothing read is lost. */
function resumed(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  first: Promise<Read>,
): ReadableStream<Uint8Array> {
  let next: Promise<Read> | undefined = first;
  return new ReadableStream({
    async pull(controller) {
      const { done, value } = await (next ?? reader.read());
      next = undefined;
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
