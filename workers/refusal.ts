import type { RequestId } from '../shared/protocol/jsonrpc.ts';
import { type Refusal, toWire } from '../shared/protocol/refusal.ts';

/** A refusal as the Worker answers it: the one wire form (shared/protocol/refusal.ts) in a Response. */
export function refusalResponse(refusal: Refusal, id: RequestId | null = null): Response {
  const wire = toWire(refusal, id);
  return new Response(JSON.stringify(wire.body), { status: wire.status, headers: wire.headers });
}
