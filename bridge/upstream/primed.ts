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

/** A spare that has answered `initialize` with a client's very params, and waits for that client. */
export interface Primed {
  readonly upstream: Upstream;
  readonly key: string;
  readonly result: Record<string, unknown>;
}

/**
 * Initializes a spare ahead of its client, with the params recent clients of the server sent,
 * so that the next client sending the same ones is answered without waiting for a cold child
 * (server-everything's first `initialize` takes 4 to 6 ms). The child sees what it would have
 * seen: that client's own `initialize`, only earlier, and then that client's own
 * `notifications/initialized`; a client sending other params is never given it.
 */
export async function prime(upstream: Upstream, hello: Hello): Promise<Primed> {
  try {
    const result = await initialize(upstream, hello.params, false);
    return { upstream, key: hello.key, result };
  } finally {
    upstream.onmessage = undefined;
    upstream.onexit = undefined;
  }
}
