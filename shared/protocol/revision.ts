import { classifyInboundRequest } from '@modelcontextprotocol/server';
import { type JSONRPCMessage, type JSONRPCRequest, paramsOf, type RequestId } from './jsonrpc.ts';
import type { Refusal } from './refusal.ts';

/**
 * Which MCP revision one HTTP request speaks. 2025-11-25 and earlier: sessions opened by
 * `initialize`. 2026-07-28: stateless, every request carrying its version and capabilities in
 * `params._meta` and mirroring its method (and name) in headers. The era is decided by the
 * SDK's own classifier, from the body first; the checks it leaves to the serving layer
 * (supported version, header presence, `Mcp-Name`) are here, so that edge and bridge refuse alike.
 */

export const modernRevision = '2026-07-28';
export const supportedModernRevisions: readonly string[] = [modernRevision];

export const metaKeys = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
} as const;

/** The `subscriptions/listen` filter key for each list whose changes it can ask for. */
export const listChangedFilters = {
  tools: 'toolsListChanged',
  prompts: 'promptsListChanged',
  resources: 'resourcesListChanged',
} as const;

/** Results a 2026-07-28 client may cache, which must say for how long and for whom. */
export const cacheableMethods: ReadonlySet<string> = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'server/discover',
]);

/** The body field the `Mcp-Name` header mirrors, per method. */
const nameSource: Record<string, string> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
};

export interface HttpFacts {
  httpMethod: string;
  protocolVersion?: string | undefined;
  mcpMethod?: string | undefined;
  mcpName?: string | undefined;
  body?: unknown;
}

export type Revision =
  | { era: 'legacy' }
  | {
      era: 'modern';
      message: JSONRPCMessage & { method: string };
      revision: string;
      clientCapabilities: Record<string, unknown>;
    }
  | { era: 'refused'; refusal: Refusal; id: RequestId | null };

export function revisionOf(facts: HttpFacts): Revision {
  const route = classifyInboundRequest({
    httpMethod: facts.httpMethod,
    protocolVersionHeader: facts.protocolVersion,
    mcpMethodHeader: facts.mcpMethod,
    mcpNameHeader: facts.mcpName,
    body: facts.body,
  });
  if (route.kind === 'legacy') return { era: 'legacy' };
  const id = idOf(facts.body);
  if (route.kind === 'reject') {
    const { httpStatus: status, code, message, data } = route;
    return refused(id, { kind: 'malformed_request', status, code, message, data });
  }
  const revision = route.classification.revision ?? modernRevision;
  if (!supportedModernRevisions.includes(revision)) {
    return refused(id, {
      kind: 'unsupported_version',
      requested: revision,
      supported: supportedModernRevisions,
    });
  }
  const message = route.message as JSONRPCMessage & { method: string };
  const mismatch = 'id' in message ? headerMismatch(facts, message as JSONRPCRequest, revision) : undefined;
  if (mismatch !== undefined) {
    return refused(id, { kind: 'header_mismatch', detail: mismatch.text, header: mismatch.header });
  }
  const meta = paramsOf(message)?._meta as Record<string, unknown> | undefined;
  const clientCapabilities = (meta?.[metaKeys.clientCapabilities] ?? {}) as Record<string, unknown>;
  return { era: 'modern', message, revision, clientCapabilities };
}

/** Headers a 2026-07-28 request must carry, checked against its body; `undefined` when they agree. */
function headerMismatch(
  facts: HttpFacts,
  message: JSONRPCRequest,
  revision: string,
): { header: string; text: string } | undefined {
  if (facts.protocolVersion === undefined)
    return { header: '(missing)', text: 'the required MCP-Protocol-Version header is absent' };
  if (facts.protocolVersion.trim() !== revision)
    return {
      header: facts.protocolVersion,
      text: `the MCP-Protocol-Version header names ${facts.protocolVersion} but the body names ${revision}`,
    };
  if (facts.mcpMethod === undefined)
    return { header: '(missing)', text: `the body names method ${message.method} but Mcp-Method is absent` };
  if (facts.mcpMethod.trim() !== message.method)
    return {
      header: facts.mcpMethod,
      text: `the body names method ${message.method} but the Mcp-Method header names ${facts.mcpMethod}`,
    };
  const field = nameSource[message.method];
  const value = field === undefined ? undefined : paramsOf(message)?.[field];
  if (typeof value !== 'string') return undefined;
  if (facts.mcpName === undefined)
    return { header: '(missing)', text: `the body carries params.${field} but Mcp-Name is absent` };
  const decoded = decodeHeaderValue(facts.mcpName.trim());
  if (decoded === undefined) return { header: facts.mcpName, text: 'Mcp-Name has an invalid base64 value' };
  if (decoded !== value)
    return {
      header: facts.mcpName,
      text: `the body carries params.${field}=${JSON.stringify(value)} but Mcp-Name names ${JSON.stringify(decoded)}`,
    };
  return undefined;
}

function refused(id: RequestId | undefined, refusal: Refusal): Revision {
  return { era: 'refused', refusal, id: id ?? null };
}

function idOf(body: unknown): RequestId | undefined {
  const id = (body as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

const sentinel = /^=\?base64\?(.*)\?=$/;
const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const plainValue = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** A header value as the spec encodes it: as is when it is plain visible ASCII, else `=?base64?…?=` of its UTF-8. */
export function encodeHeaderValue(value: string): string {
  if (plainValue.test(value) && !sentinel.test(value)) return value;
  let binary = '';
  for (const byte of new TextEncoder().encode(value)) binary += String.fromCharCode(byte);
  return `=?base64?${btoa(binary)}?=`;
}

/** The value a header carries: the decoded UTF-8 inside `=?base64?…?=` (strict, padded), else the text itself. */
export function decodeHeaderValue(header: string): string | undefined {
  const encoded = sentinel.exec(header)?.[1];
  if (encoded === undefined) return header;
  if (!base64.test(encoded)) return undefined;
  try {
    const binary = atob(encoded);
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(
      Uint8Array.from(binary, (c) => c.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
}

/** Per tool, the arguments a client must mirror in `Mcp-Param-<name>` headers (`x-mcp-header` in the schema). */
export type ParamHeaders = ReadonlyMap<string, Readonly<Record<string, string>>>;

export function paramHeadersOf(
  listed: Record<string, unknown> | undefined,
): Map<string, Record<string, string>> {
  const declared = new Map<string, Record<string, string>>();
  const tools = Array.isArray(listed?.tools) ? (listed.tools as Record<string, unknown>[]) : [];
  for (const tool of tools) {
    const properties = (
      tool.inputSchema as { properties?: Record<string, Record<string, unknown>> } | undefined
    )?.properties;
    const headers = Object.entries(properties ?? {}).flatMap(([param, schema]) => {
      const name = schema?.['x-mcp-header'];
      return typeof name === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(name) ? [[param, name] as const] : [];
    });
    if (typeof tool.name === 'string' && headers.length > 0)
      declared.set(tool.name, Object.fromEntries(headers));
  }
  return declared;
}

/**
 * A `tools/call` whose declared `Mcp-Param-*` headers disagree with its arguments: a header
 * missing for an argument present, badly encoded, or naming another value. `undefined` when they agree.
 */
export function paramHeaderMismatch(
  declared: Readonly<Record<string, string>> | undefined,
  args: Record<string, unknown> | undefined,
  header: (name: string) => string | undefined,
): string | undefined {
  for (const [param, name] of Object.entries(declared ?? {})) {
    const value = args?.[param];
    const sent = header(`mcp-param-${name.toLowerCase()}`);
    if (value === undefined || value === null) {
      if (sent !== undefined) return `Mcp-Param-${name} is sent but arguments.${param} is absent`;
      continue;
    }
    if (sent === undefined) return `arguments.${param} is present but Mcp-Param-${name} is absent`;
    const decoded = decodeHeaderValue(sent.trim());
    if (decoded === undefined) return `Mcp-Param-${name} has an invalid base64 value`;
    if (decoded !== String(value)) return `arguments.${param} disagrees with Mcp-Param-${name}`;
  }
  return undefined;
}

/** The headers a forwarded 2026-07-28 request carries, computed from its body (never copied from the client). */
export function modernHeaders(
  message: JSONRPCMessage & { method: string },
  revision: string,
): Record<string, string> {
  const headers: Record<string, string> = { 'mcp-protocol-version': revision, 'mcp-method': message.method };
  const field = nameSource[message.method];
  const value = field === undefined ? undefined : paramsOf(message)?.[field];
  if (typeof value === 'string') headers['mcp-name'] = encodeHeaderValue(value);
  return headers;
}
