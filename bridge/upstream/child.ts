import type { JSONRPCMessage, RequestId } from '../../shared/protocol/jsonrpc.ts';
import { errorOf } from '../../shared/protocol/refusal.ts';
import { noRoots } from '../stateless/translate.ts';
import type { Upstream } from './upstream.ts';

/** A child initialized by the bridge; `lease` receives its messages while one request holds it. */
export class Child {
  readonly upstream: Upstream;
  readonly init: Record<string, unknown>;
  /** `text`: the line the message came in (stdio-transport.ts). */
  lease: ((message: JSONRPCMessage, text?: string) => void) | undefined;
  onexit: ((detail: string) => void) | undefined;
  idleSince = Date.now();
  /** Whom the child serves from its first lease on, in isolated mode; `undefined`: it has served no one. */
  owner: string | undefined;

  constructor(upstream: Upstream, init: Record<string, unknown>) {
    this.upstream = upstream;
    this.init = init;
  }

  get open(): boolean {
    return this.upstream.open;
  }

  send(message: JSONRPCMessage): Promise<void> {
    return this.upstream.send(message);
  }
}

/** A question outside any request: the bridge has no roots of its own, and no one to ask anything else. */
export function answerUnasked(
  child: Child,
  question: JSONRPCMessage & { id: RequestId; method: string },
): void {
  const answer: JSONRPCMessage =
    question.method === 'roots/list'
      ? noRoots(question.id)
      : errorOf({ kind: 'no_client', detail: 'no client is waiting on this server' }, question.id);
  child.send(answer).catch(() => undefined);
}

const broadcast = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
]);

export function isBroadcast(message: JSONRPCMessage): message is JSONRPCMessage & { method: string } {
  return 'method' in message && broadcast.has(message.method);
}
