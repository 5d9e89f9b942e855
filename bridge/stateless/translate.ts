import { joined, objectMembers, only, skipSpace, splice } from '../../shared/protocol/json-text.ts';
import {
  type JSONRPCMessage,
  paramsOf,
  progressTokenOf,
  type RequestId,
  resultOf,
} from '../../shared/protocol/jsonrpc.ts';
import { cacheableMethods, metaKeys } from '../../shared/protocol/revision.ts';

/**
 * Messages between a 2026-07-28 client and a 2025-11-25 server, both ways: pure functions, no I/O.
 */

export type Request = JSONRPCMessage & { id: RequestId; method: string };

/** Which client capability a server-to-client request needs, and so which input request it becomes. */
export const inputMethods: Record<string, string> = {
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
};

/** Lets a 2025 server name its question (the key in `inputRequests`), as 2026-07-28 servers do. */
const inputKeyHint = 'dev.mcp-edge-gateway/inputKey';

/**
 * The key of each question in `inputRequests`: the server's hint, else the kind and its count
 * in this request (`elicitation-1`), which stays the same when a client sends the request again
 * with its answers and a fresh child asks the same questions.
 */
export class Keys {
  private readonly byId = new Map<RequestId, string>();
  private readonly counts = new Map<string, number>();

  of(question: Request): string {
    const known = this.byId.get(question.id);
    if (known !== undefined) return known;
    const hint = (paramsOf(question)?._meta as Record<string, unknown> | undefined)?.[inputKeyHint];
    const kind = inputMethods[question.method] ?? 'input';
    const count = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, count);
    const key = typeof hint === 'string' && /^[\w.-]{1,64}$/.test(hint) ? hint : `${kind}-${count}`;
    this.byId.set(question.id, key);
    return key;
  }
}

/** A question's params as the client sees them: without the gateway's own hint. */
export function shown(question: Request): Record<string, unknown> {
  const params = paramsOf(question) ?? {};
  const meta = params._meta as Record<string, unknown> | undefined;
  if (meta === undefined || !(inputKeyHint in meta)) return params;
  const { [inputKeyHint]: _hint, ...rest } = meta;
  const { _meta: _old, ...others } = params;
  return Object.keys(rest).length > 0 ? { ...others, _meta: rest } : others;
}

/** What a 2025 child gets: the request without the 2026 envelope, which it would not understand. */
export function forChild(params: Record<string, unknown>): Record<string, unknown> {
  const { requestState: _state, inputResponses: _responses, _meta, ...rest } = params;
  const meta = Object.fromEntries(
    Object.entries((_meta ?? {}) as Record<string, unknown>).filter(
      ([key]) => !key.startsWith('io.modelcontextprotocol/'),
    ),
  );
  return Object.keys(meta).length > 0 ? { ...rest, _meta: meta } : rest;
}

/**
 * A child's notification as the client should see it: only progress for this request (other
 * notifications, logging among them, concern a session the client does not have).
 */
export function forClient(message: JSONRPCMessage, request: Request): JSONRPCMessage | undefined {
  if (!('method' in message) || message.method !== 'notifications/progress') return undefined;
  const token = paramsOf(message)?.progressToken;
  return token === progressTokenOf(request) ? message : undefined;
}

/**
 * A 2025 answer as a 2026-07-28 one. Cacheable results are marked private and not to be kept:
 * what a client may see depends on who it is and on a document that can change at any time.
 */
export function complete(
  request: Request,
  message: JSONRPCMessage,
  init: Record<string, unknown>,
): JSONRPCMessage {
  const result = resultOf(message);
  if (result === undefined) return { ...message, id: request.id } as JSONRPCMessage;
  const meta = {
    ...(result._meta as Record<string, unknown> | undefined),
    [metaKeys.serverInfo]: init.serverInfo,
  };
  const cache = cacheableMethods.has(request.method) ? { ttlMs: 0, cacheScope: 'private' } : {};
  const translated = { ...result, resultType: 'complete', ...cache, _meta: meta };
  return { jsonrpc: '2.0', id: request.id, result: translated } as JSONRPCMessage;
}

/** The members `complete` adds to a result: a result that has one already is parsed instead. */
const completeKeys = ['resultType', 'ttlMs', 'cacheScope', '_meta'];

/**
 * `complete`'s answer written from the child's `line`, not serialised again: the result's text
 * as it came, the client's id spliced in, the members `complete` adds written at the result's
 * end. Undefined (the caller serialises `complete`'s) when the line does not read exactly as
 * `JSON.parse` reads it, has members `complete` would drop, or a result with one it would set.
 */
export function completeText(
  request: Request,
  line: string | undefined,
  init: Record<string, unknown>,
): string | undefined {
  if (line === undefined) return undefined;
  const top = objectMembers(line, skipSpace(line, 0));
  if (top === undefined || skipSpace(line, top.end) !== line.length) return undefined;
  const id = only(top.members, 'id');
  if (!id) return undefined;
  const renumbered = { start: id.start, end: id.end, pieces: [JSON.stringify(request.id)] };
  const result = only(top.members, 'result');
  // An error: complete() only gives it the client's id.
  if (result === undefined) return joined(line, splice(line, [renumbered]));
  if (!result || top.members.some((m) => m.key !== 'jsonrpc' && m.key !== 'id' && m.key !== 'result'))
    return undefined;
  const members = objectMembers(line, result.start);
  if (members === undefined || completeKeys.some((key) => only(members.members, key) !== undefined))
    return undefined;
  const meta = init.serverInfo === undefined ? {} : { [metaKeys.serverInfo]: init.serverInfo };
  const cache = cacheableMethods.has(request.method) ? ',"ttlMs":0,"cacheScope":"private"' : '';
  const comma = members.members.length > 0 ? ',' : '';
  const added = `${comma}"resultType":"complete"${cache},"_meta":${JSON.stringify(meta)}`;
  const edits = [renumbered, { start: members.end - 1, end: members.end - 1, pieces: [added] }];
  return joined(
    line,
    splice(
      line,
      edits.sort((x, y) => x.start - y.start),
    ),
  );
}

/** The answer to `roots/list` for a client without roots: it has none, and the server goes on. */
export function noRoots(id: RequestId): JSONRPCMessage {
  return { jsonrpc: '2.0', id, result: { roots: [] } };
}
