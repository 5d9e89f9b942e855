import {
  JSONRPCErrorResponseSchema,
  type JSONRPCMessage,
  JSONRPCNotificationSchema,
  type JSONRPCRequest,
  JSONRPCRequestSchema,
  JSONRPCResultResponseSchema,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

import { objectMembers, only, skipSpace, stringAt } from './json-text.ts';

export type { JSONRPCMessage, JSONRPCRequest, RequestId };

/**
 * The methods a client may send to a server (MCP 2025-11-25), exactly as spelled: the edge
 * forwards nothing else, so that no variant spelling slips past a policy written for these.
 */
export const clientRequestMethods: ReadonlySet<string> = new Set([
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'completion/complete',
  'logging/setLevel',
  'tasks/get',
  'tasks/list',
  'tasks/result',
  'tasks/cancel',
]);

/**
 * The methods a 2026-07-28 client may send: no `initialize` (every request carries its own
 * version and capabilities), no `ping` (there is no connection to keep), no `logging/setLevel`
 * (the level rides in `_meta`), and `subscriptions/listen` in place of the GET stream and
 * `resources/subscribe`.
 */
export const modernClientRequestMethods: ReadonlySet<string> = new Set([
  'server/discover',
  'subscriptions/listen',
  ...[...clientRequestMethods].filter(
    (m) =>
      !['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe'].includes(m),
  ),
]);

export const clientNotificationMethods: ReadonlySet<string> = new Set([
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
  'notifications/tasks/status',
]);

export type MessageKind = 'request' | 'notification' | 'response' | 'error';

/**
 * What a message is, by the member only its kind has. A `JSONRPCMessage` was validated where
 * it came in (`validMessage`, the SDK's transports), and the four schemas are strict, so its
 * members name its kind; asking the schemas again cost a zod parse per question, up to six per
 * call in shared mode, most of them failing.
 */
export function kindOf(message: JSONRPCMessage): MessageKind {
  const kind = kindByMembers(message);
  if (kind === undefined) throw new TypeError('not a JSON-RPC message');
  return kind;
}

function kindByMembers(value: object): MessageKind | undefined {
  if ('method' in value) return 'id' in value ? 'request' : 'notification';
  if ('result' in value) return 'response';
  if ('error' in value) return 'error';
  return undefined;
}

const schemaOf = {
  request: JSONRPCRequestSchema,
  notification: JSONRPCNotificationSchema,
  response: JSONRPCResultResponseSchema,
  error: JSONRPCErrorResponseSchema,
};

/**
 * `value` as a JSON-RPC message, validated by the SDK's schema for the kind its members name,
 * or undefined. The same verdict as the SDK's union of the four (they are strict, so a value
 * valid as one kind has no member of another), without first failing the kinds it is not.
 */
export function validMessage(value: unknown): JSONRPCMessage | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const kind = kindByMembers(value);
  if (kind === undefined) return undefined; // each kind's schema requires its member
  const parsed = schemaOf[kind].safeParse(value);
  return parsed.success ? (parsed.data as JSONRPCMessage) : undefined;
}

export function notification(method: string, params?: Record<string, unknown>): JSONRPCMessage {
  return params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params };
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The `params` object of a request or notification, if it has one. */
export function paramsOf(message: JSONRPCMessage): Record<string, unknown> | undefined {
  return 'params' in message ? record(message.params) : undefined;
}

export function resultOf(message: JSONRPCMessage): Record<string, unknown> | undefined {
  return 'result' in message ? record(message.result) : undefined;
}

/** The progress token a request asks progress notifications to carry, if any. */
export function progressTokenOf(message: JSONRPCMessage): string | number | undefined {
  const token = record(paramsOf(message)?._meta)?.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

/** The name of the tool, prompt or resource a request is about (`tools/call`, `prompts/get`, `resources/read`). */
export function resourceIdOf(message: JSONRPCMessage): string | undefined {
  if (!('method' in message && 'id' in message)) return undefined;
  const params = paramsOf(message);
  const key = message.method === 'resources/read' ? 'uri' : 'name';
  const value = params?.[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * A tool result that reports failure in-band (`isError: true`) is a failure, not a success.
 * Never throws: the edge asks it of an answer it parsed but did not validate.
 */
export function isFailure(message: JSONRPCMessage): boolean {
  return 'error' in message || resultOf(message)?.isError === true;
}

/** Names listed by a `tools/list`, `prompts/list` or `resources/list` result. */
export function listedNames(method: string, result: Record<string, unknown> | undefined): string[] {
  const field = { 'tools/list': 'tools', 'prompts/list': 'prompts', 'resources/list': 'resources' }[method];
  const items = field === undefined ? undefined : result?.[field];
  if (!Array.isArray(items)) return [];
  const key = method === 'resources/list' ? 'uri' : 'name';
  return items.flatMap((item) => {
    const name = record(item)?.[key];
    return typeof name === 'string' ? [name] : [];
  });
}

/** Deeper than any real MCP message: refused before anything walks it recursively (the SDK, zod, a server). */
export const maxNestingDepth = 100;

/** Whether a parsed JSON value nests arrays/objects deeper than `max`; iterative, so any depth is safe. */
export function nestedTooDeep(value: unknown, max = maxNestingDepth): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(node))
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/** What the spec allows in Mcp-Session-Id (visible ASCII), bounded. */
export function validSessionId(id: string): boolean {
  return /^[\x21-\x7e]{1,256}$/.test(id);
}

/**
 * What a message is, read from its text without parsing it: a response (and whether it failed,
 * as `isFailure` says) or a request or notification (its method). Undefined: not read this way
 * (a repeated or mixed key, not an object): parse it.
 *
 * A response is known by its first `result` or `error` key: what follows is not read, so a
 * 1 MiB result is not walked (only searched for `isError`). That trusts the upstream to write
 * JSON-RPC as an MCP SDK does, one of `result`, `error` and `method` per message; a server
 * that does not only misleads its own metering, since the one filter that reads messages (a
 * resource update's URI) guards what honest servers announce, and any server can name any
 * URI in a result. A request or notification is read whole (they are small).
 */
export type Peek =
  | { kind: 'response'; failed: boolean /** The id's JSON, when it came before the result. */; id?: string }
  | { kind: 'message'; method: string }
  | undefined;

export function peekMessage(text: string): Peek {
  const read = objectMembers(text, skipSpace(text, 0), (key) => key === 'result' || key === 'error');
  if (read === undefined) return undefined;
  const method = only(read.members, 'method');
  const last = read.members.at(-1);
  if (read.end === -1 && last !== undefined) {
    const id = only(read.members, 'id');
    if (method !== undefined || id === null) return undefined;
    const failed = last.key === 'error' ? true : resultFailed(text, last.start);
    if (failed === undefined) return undefined;
    return id ? { kind: 'response', failed, id: text.slice(id.start, id.end) } : { kind: 'response', failed };
  }
  const name = method ? stringAt(text, method.start, method.end) : undefined;
  return name === undefined ? undefined : { kind: 'message', method: name };
}

/** Whether a result says `isError: true` (a tool's own failure); a text without `Error"` cannot. */
function resultFailed(text: string, start: number): boolean | undefined {
  if (text.indexOf('Error"', start) === -1) return false;
  const fields = objectMembers(text, start);
  const flag = fields === undefined ? null : only(fields.members, 'isError');
  if (flag === null) return undefined;
  return flag !== undefined && text.slice(flag.start, flag.end) === 'true';
}
