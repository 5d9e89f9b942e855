import { withId } from '../../shared/protocol/json-text.ts';
import {
  isFailure,
  type JSONRPCMessage,
  notification,
  paramsOf,
  type RequestId,
} from '../../shared/protocol/jsonrpc.ts';
import { initialize } from './handshake.ts';
import type { Upstream } from './upstream.ts';

/** A client's `initialize` params, keyed by their text: a client sends the same text each time. */
export interface Hello {
  readonly key: string;
  readonly params: Record<string, unknown>;
}

/** Params longer than this are never primed for: the pool keeps recent keys, and keeps them small. */
const maxKeyLength = 16 * 1024;

export function helloOf(params: unknown): Hello | undefined {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return undefined;
  const key = JSON.stringify(params);
  return key.length > maxKeyLength ? undefined : { key, params: params as Record<string, unknown> };
}

/** A message from a child, with the line it came in. */
export interface Said {
  readonly message: JSONRPCMessage;
  readonly text?: string;
}

/** What a primed spare did ahead of its client, for the session that takes it. */
export interface Ahead {
  /** The child's answer to the client's `initialize`. */
  readonly answer: Record<string, unknown>;
  /**
   * Present when the child was also told `notifications/initialized` ahead (then the client's own
   * is not passed on): what the child said since, in order, for the client.
   */
  readonly said?: readonly Said[];
  /** The child's answer to the `tools/list` asked ahead; none if it failed, or the child said since that its tools changed. */
  readonly listed?: Listed;
}

/** A child's answer to a `tools/list`, and when it came (ms since the epoch). */
export interface Listed extends Said {
  readonly at: number;
}

/** A spare that has answered `initialize` with a client's very params, and waits for that client. */
export interface Primed {
  readonly upstream: Upstream;
  readonly key: string;
  readonly ahead: Ahead;
}

/** What a waiting spare may say before its client comes, kept for it; past this, the rest is dropped. */
const maxSaid = 64;
const listId = 'bridge-list-ahead';
const toolsChanged = 'notifications/tools/list_changed';
const listTimeoutMs = 5000;
/** How old a list asked ahead may be and still answer a client's first `tools/list`. */
const maxListAgeMs = 60_000;

/**
 * Initializes a spare ahead of its client, with the params recent clients of the server sent,
 * so that the next client sending the same ones is answered without waiting for a cold child
 * (server-everything's first `initialize` takes 4 to 6 ms). The child sees what it would have
 * seen: that client's own `initialize`, only earlier; a client sending other params is never
 * given it. A server with tools is also told `notifications/initialized` and asked its tools
 * once, as every AI client does next (a child's first `tools/list` is cold code too); the
 * client's first list is then answered with that answer.
 */
export async function prime(upstream: Upstream, hello: Hello): Promise<Primed> {
  let kept = false;
  try {
    const answer = await initialize(upstream, hello.params, false);
    if (!hasTools(answer)) return { upstream, key: hello.key, ahead: { answer } };
    const ahead = await listAhead(upstream, answer);
    kept = true;
    return { upstream, key: hello.key, ahead };
  } finally {
    // A child told it is initialized may speak: what it says is kept (listAhead) for its client.
    if (!kept) upstream.onmessage = undefined;
    upstream.onexit = undefined;
  }
}

function hasTools(answer: Record<string, unknown>): boolean {
  const capabilities = answer.capabilities;
  return typeof capabilities === 'object' && capabilities !== null && 'tools' in capabilities;
}

/**
 * `notifications/initialized`, then one `tools/list`, whose answer is kept for the client's
 * first list until the child says its tools changed. Whatever else the child says from then
 * on, until a session takes it (a log line, a request to the client such as `roots/list`), is
 * kept in order for that session, up to `maxSaid` messages. The collector runs on while the
 * spare waits: the session takes what it has gathered by then.
 */
function listAhead(upstream: Upstream, answer: Record<string, unknown>): Promise<Ahead> {
  const ahead: { answer: Record<string, unknown>; said: Said[]; listed?: Listed } = { answer, said: [] };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(ahead), listTimeoutMs);
    upstream.onmessage = (message, text) => {
      if ('id' in message && message.id === listId && !('method' in message)) {
        clearTimeout(timer);
        if (!isFailure(message)) ahead.listed = { message, text, at: Date.now() };
        resolve(ahead);
        return;
      }
      if ('method' in message && message.method === toolsChanged) ahead.listed = undefined;
      if (ahead.said.length < maxSaid) ahead.said.push({ message, text });
    };
    upstream.onexit = (_reason, detail) => {
      clearTimeout(timer);
      reject(new Error(detail));
    };
    upstream
      .send(notification('notifications/initialized'))
      .then(() => upstream.send({ jsonrpc: '2.0', id: listId, method: 'tools/list' }))
      .catch((error: Error) => {
        clearTimeout(timer);
        reject(error);
      });
  });
}

/**
 * The child's answer to the `tools/list` asked ahead, held for its client's first list: a first
 * page, asked within a minute of that answer, gets it under the request's id (spliced into the
 * child's line). Forgotten once any list is asked, or when the child says its tools changed.
 */
export class ListedAhead {
  private listed: Listed | undefined;

  constructor(listed: Listed | undefined) {
    this.listed = listed;
  }

  /** A message from the child: a change of its tools makes the list stale. */
  heard(message: JSONRPCMessage): void {
    if ('method' in message && message.method === toolsChanged) this.listed = undefined;
  }

  /** The answer to `request` from the list, if it is the first `tools/list` and the list still holds. */
  answer(request: JSONRPCMessage & { id: RequestId }, now = Date.now()): Said | undefined {
    if (!('method' in request) || request.method !== 'tools/list') return undefined;
    const listed = this.listed;
    this.listed = undefined;
    if (listed === undefined || paramsOf(request)?.cursor !== undefined || now - listed.at > maxListAgeMs) {
      return undefined;
    }
    const text = listed.text === undefined ? undefined : withId(listed.text, request.id);
    return { message: { ...listed.message, id: request.id } as JSONRPCMessage, text };
  }
}
