import { type JSONRPCMessage, paramsOf } from '../protocol/jsonrpc.ts';

/**
 * Tool search, a portal's opt-in (`portal.toolSearch`): the client sees two tools instead of
 * every member's. `find_tools` is answered from the portal's own `tools/list`, so what it can
 * find is exactly what the list would show this caller (the same filter, nothing else);
 * `call_tool` is unwrapped into the direct call it names, so the gate, the refusal, metering
 * and audit see the real member and tool, never the meta-tool.
 */

export const findTools = 'find_tools';
export const callTool = 'call_tool';

const defaultLimit = 10;
const maxLimit = 50;

const metaTools = [
  {
    name: findTools,
    description:
      'Search the tools you may use on every server of this portal, by words of their names and descriptions. Returns the best matches with their input schemas; call one with call_tool.',
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'Words to look for, e.g. "list pods" or "read file"' },
        limit: {
          type: 'integer',
          minimum: 1,
          maximum: maxLimit,
          description: `At most this many (${defaultLimit})`,
        },
      },
      required: ['query'],
    },
  },
  {
    name: callTool,
    description: 'Call a tool that find_tools returned, by its name, with its arguments.',
    inputSchema: {
      type: 'object',
      properties: {
        name: { type: 'string', description: 'The tool name as find_tools gave it' },
        arguments: { type: 'object', description: 'The arguments its input schema asks for' },
      },
      required: ['name'],
    },
  },
];

type Result = Record<string, unknown>;
type Tool = Record<string, unknown> & { name?: unknown; description?: unknown };

export type Searched = { answer: Result } | { message: JSONRPCMessage; reshape?: (list: Result) => Result };

/** A client message of a tool-search portal as the portal handles it. */
export function searchRewrite(message: JSONRPCMessage, modern: boolean): Searched {
  if (!('method' in message) || !('id' in message)) return { message };
  if (message.method === 'tools/list') {
    const answer: Result = { tools: metaTools };
    return {
      answer: modern ? { ...answer, resultType: 'complete', ttlMs: 0, cacheScope: 'private' } : answer,
    };
  }
  const params = paramsOf(message);
  if (message.method !== 'tools/call') return { message };
  const args = (params?.arguments ?? {}) as Record<string, unknown>;
  if (params?.name === callTool) {
    const inner = { ...params, name: args.name, arguments: args.arguments ?? {} };
    return { message: { ...message, params: inner } as JSONRPCMessage };
  }
  if (params?.name !== findTools) return { message };
  const query = typeof args.query === 'string' ? args.query : '';
  const limit = Math.min(
    maxLimit,
    Math.max(1, Number.isInteger(args.limit) ? (args.limit as number) : defaultLimit),
  );
  const list = { jsonrpc: '2.0', id: message.id, method: 'tools/list', params: { _meta: params?._meta } };
  return { message: list as JSONRPCMessage, reshape: (result) => found(result, query, limit) };
}

/** The list result, filtered for this caller, as the answer of `find_tools`. */
function found(list: Result, query: string, limit: number): Result {
  const tools = Array.isArray(list.tools) ? (list.tools as Tool[]) : [];
  const matches = rank(tools, query).slice(0, limit);
  const summary =
    matches.length === 0
      ? `No tool you may use matches "${query}".`
      : matches
          .map((t) => `${String(t.name)}: ${typeof t.description === 'string' ? t.description : ''}`)
          .join('\n');
  const result: Result = {
    content: [{ type: 'text', text: summary }],
    structuredContent: { tools: matches },
  };
  return 'resultType' in list ? { ...result, resultType: 'complete' } : result;
}

function words(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

/**
 * Tools ranked by how well their names and descriptions match the query's words: a word of the
 * name counts most, then a prefix of one, then a word of the description; ties by name.
 */
export function rank(tools: Tool[], query: string): Tool[] {
  const asked = words(query);
  const scored = tools
    .filter((t) => typeof t.name === 'string')
    .map((tool) => {
      const name = words(tool.name as string);
      const description = new Set(words(typeof tool.description === 'string' ? tool.description : ''));
      let score = 0;
      for (const word of asked) {
        if (name.includes(word)) score += 3;
        else if (name.some((part) => part.startsWith(word))) score += 2;
        if (description.has(word)) score += 1;
      }
      return { tool, score };
    })
    .filter((entry) => entry.score > 0);
  scored.sort((a, b) => b.score - a.score || String(a.tool.name).localeCompare(String(b.tool.name)));
  return scored.map((entry) => entry.tool);
}
