import { listShapes } from '../policy/list-text.ts';
import { type JSONRPCMessage, paramsOf } from '../protocol/jsonrpc.ts';
import type { Named, Naming } from './names.ts';

/** The field a list method's items are in (`tools` for `tools/list`). */
export function listField(method: string): string {
  return listShapes[method]?.field ?? 'items';
}

type Params = Record<string, unknown>;

/** Where in a request the name of what it addresses is, for the methods that address one member. */
function addressOf(
  method: string,
  params: Params | undefined,
): { kind: 'name' | 'uri'; path: string[] } | undefined {
  switch (method) {
    case 'tools/call':
    case 'prompts/get':
      return { kind: 'name', path: ['name'] };
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return { kind: 'uri', path: ['uri'] };
    case 'completion/complete': {
      const ref = params?.ref as { type?: unknown } | undefined;
      if (ref?.type === 'ref/prompt') return { kind: 'name', path: ['ref', 'name'] };
      if (ref?.type === 'ref/resource') return { kind: 'uri', path: ['ref', 'uri'] };
      return undefined;
    }
    default:
      return undefined;
  }
}

export type Addressed =
  | { to: 'member'; member: string; name: string; message: JSONRPCMessage; asked: string; uri: boolean }
  | { to: 'none'; asked: string; uri: boolean }
  | { to: 'all' };

/**
 * Which member a client request of a portal is for, and the request as that member must get it
 * (its own name, not the portal's); `all` for requests every member answers (the lists). `asked`
 * is the name or URI as the client wrote it.
 */
export function addressed(naming: Naming, message: JSONRPCMessage & { method: string }): Addressed {
  const params = paramsOf(message);
  const address = addressOf(message.method, params);
  if (address === undefined) return { to: 'all' };
  const value = valueAt(params, address.path);
  const asked = String(value);
  const named = typeof value === 'string' ? readName(naming, address.kind, value) : undefined;
  const uri = address.kind === 'uri';
  if (named === undefined) return { to: 'none', asked, uri };
  const rewritten = { ...message, params: withValueAt(params ?? {}, address.path, named.name) };
  return {
    to: 'member',
    member: named.member,
    name: named.name,
    message: rewritten as JSONRPCMessage,
    asked,
    uri,
  };
}

function readName(naming: Naming, kind: 'name' | 'uri', value: string): Named | undefined {
  return kind === 'uri' ? naming.ofUri(value) : naming.ofName(value);
}

function valueAt(params: Params | undefined, path: string[]): unknown {
  let value: unknown = params;
  for (const key of path) value = (value as Params | undefined)?.[key];
  return value;
}

function withValueAt(params: Params, path: string[], value: string): Params {
  const [key, ...rest] = path as [string, ...string[]];
  if (rest.length === 0) return { ...params, [key]: value };
  return { ...params, [key]: withValueAt((params[key] ?? {}) as Params, rest, value) };
}

/** The name or URI a request names, as the client wrote it; undefined for one that names none. */
export function askedOf(message: JSONRPCMessage): string | undefined {
  if (!('method' in message)) return undefined;
  const params = paramsOf(message);
  const address = addressOf(message.method, params);
  const value = address === undefined ? undefined : valueAt(params, address.path);
  return typeof value === 'string' ? value : undefined;
}

type Item = Record<string, unknown>;

/** One member's list result with the portal's names. */
export function namespacedList(naming: Naming, member: string, method: string, result: Item): Item[] {
  const list = listShapes[method];
  if (list === undefined) return [];
  const items = Array.isArray(result[list.field]) ? (result[list.field] as Item[]) : [];
  const prefix = list.key === 'name' ? naming.name : naming.uri;
  return items
    .filter((item) => typeof item[list.key] === 'string')
    .map((item) => ({ ...item, [list.key]: prefix(member, item[list.key] as string) }));
}

/** A merged list split back per member, each item under the member's own name. */
export function listsByMember(naming: Naming, method: string, result: Item): Map<string, Item[]> {
  const list = listShapes[method];
  const byMember = new Map<string, Item[]>();
  if (list === undefined) return byMember;
  const items = Array.isArray(result[list.field]) ? (result[list.field] as Item[]) : [];
  for (const item of items) {
    const value = item[list.key];
    const named =
      typeof value === 'string' ? readName(naming, list.key === 'name' ? 'name' : 'uri', value) : undefined;
    if (named === undefined) continue;
    byMember.set(named.member, [...(byMember.get(named.member) ?? []), { ...item, [list.key]: named.name }]);
  }
  return byMember;
}

/** A member's notification to the client: a resource update under the portal's URI. */
export function namespacedUpdate(naming: Naming, member: string, message: JSONRPCMessage): JSONRPCMessage {
  const params = paramsOf(message);
  if (!('method' in message) || message.method !== 'notifications/resources/updated') return message;
  if (typeof params?.uri !== 'string') return message;
  return { ...message, params: { ...params, uri: naming.uri(member, params.uri) } } as JSONRPCMessage;
}

/** A request as the member's gate passed it (a renamed tool under its real name), under the portal's name again. */
export function backToPortal(
  naming: Naming,
  member: string,
  message: JSONRPCMessage & { method: string },
): JSONRPCMessage {
  const params = paramsOf(message);
  const address = addressOf(message.method, params);
  if (address === undefined) return message;
  const value = valueAt(params, address.path);
  if (typeof value !== 'string') return message;
  const name = address.kind === 'uri' ? naming.uri(member, value) : naming.name(member, value);
  return { ...message, params: withValueAt(params ?? {}, address.path, name) } as JSONRPCMessage;
}
