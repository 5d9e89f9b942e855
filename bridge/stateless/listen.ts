import { type JSONRPCMessage, paramsOf } from '../../shared/protocol/jsonrpc.ts';
import { refusalResponse } from '../../shared/protocol/refusal.ts';
import { listChangedFilters, metaKeys } from '../../shared/protocol/revision.ts';
import type { Request } from './translate.ts';
import { EventStream } from './writer.ts';

type Notification = JSONRPCMessage & { method: string };

/** The list-change filters of a listen request that a translated server's stream honours. */
export function honoredFilters(asked: Record<string, unknown>): Record<string, true> {
  return Object.fromEntries(
    Object.values(listChangedFilters)
      .filter((key) => asked[key] === true)
      .map((key) => [key, true] as const),
  );
}

/**
 * 2026-07-28 `subscriptions/listen` streams of one server: each acknowledged with the list
 * kinds it will get, then told of every list change of those kinds, tagged with its id.
 */
export class ListenStreams {
  private readonly streams = new Map<(message: Notification) => void, () => void>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  open(request: Request): Response {
    if (this.streams.size >= this.max) {
      return refusalResponse({ kind: 'too_many_listeners', retryAfterSeconds: 5 }, request.id);
    }
    const honored = honoredFilters((paramsOf(request)?.notifications ?? {}) as Record<string, unknown>);
    const tag = { [metaKeys.subscriptionId]: request.id };
    const events = new EventStream();
    events.write({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { notifications: honored, _meta: tag },
    });
    const deliver = (message: Notification) => {
      const kind = message.method.split('/')[1] as keyof typeof listChangedFilters;
      if (honored[listChangedFilters[kind]] !== true) return;
      events.write({ jsonrpc: '2.0', method: message.method, params: { ...paramsOf(message), _meta: tag } });
    };
    // Ended by the bridge (a drain): the empty listen result tells the client it was on purpose.
    const end = () => events.end({ jsonrpc: '2.0', id: request.id, result: { _meta: tag } });
    this.streams.set(deliver, end);
    events.onclose = () => this.streams.delete(deliver);
    return events.response;
  }

  broadcast(message: Notification): void {
    for (const deliver of this.streams.keys()) deliver(message);
  }

  closeAll(): void {
    for (const end of this.streams.values()) end();
    this.streams.clear();
  }
}
