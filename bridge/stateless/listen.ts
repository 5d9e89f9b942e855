import type { ServerResponse } from 'node:http';
import { type JSONRPCMessage, paramsOf } from '../../shared/protocol/jsonrpc.ts';
import { toWire } from '../../shared/protocol/refusal.ts';
import { listChangedFilters, metaKeys } from '../../shared/protocol/revision.ts';
import { sseEvent } from '../../shared/protocol/sse.ts';
import type { Request } from './translate.ts';

type Notification = JSONRPCMessage & { method: string };

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

  open(res: ServerResponse, request: Request): void {
    if (this.streams.size >= this.max) {
      const wire = toWire({ kind: 'too_many_listeners', retryAfterSeconds: 5 }, request.id);
      res.writeHead(wire.status, wire.headers).end(JSON.stringify(wire.body));
      return;
    }
    const asked = (paramsOf(request)?.notifications ?? {}) as Record<string, unknown>;
    const honored = Object.fromEntries(
      Object.values(listChangedFilters)
        .filter((key) => asked[key] === true)
        .map((key) => [key, true]),
    );
    const tag = { [metaKeys.subscriptionId]: request.id };
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const write = (message: JSONRPCMessage) => res.write(sseEvent(message));
    write({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { notifications: honored, _meta: tag },
    });
    const deliver = (message: Notification) => {
      const kind = message.method.split('/')[1] as keyof typeof listChangedFilters;
      if (honored[listChangedFilters[kind]] !== true) return;
      write({ jsonrpc: '2.0', method: message.method, params: { ...paramsOf(message), _meta: tag } });
    };
    // Ended by the bridge (a drain): the empty listen result tells the client it was on purpose.
    const end = () => res.end(sseEvent({ jsonrpc: '2.0', id: request.id, result: { _meta: tag } }));
    this.streams.set(deliver, end);
    res.once('close', () => this.streams.delete(deliver));
  }

  broadcast(message: Notification): void {
    for (const deliver of this.streams.keys()) deliver(message);
  }

  closeAll(): void {
    for (const end of this.streams.values()) end();
    this.streams.clear();
  }
}
