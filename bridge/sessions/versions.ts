import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';

/** The 2025 revisions (and 2024's) a session of the bridge may speak, newest first. */
export const sessionRevisions = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'];

/** The revision the bridge itself speaks to a server it initializes (shared upstreams, leased children). */
export const bridgeRevision = sessionRevisions[0] as string;

/**
 * What the bridge declares to a server it initializes: everything a client might answer. Whether
 * the client a question reaches can answer it is the bridge's to check, question by question.
 */
export const bridgeCapabilities = { elicitation: { form: {}, url: {} }, sampling: {}, roots: {} };

/**
 * The revision a session gets: the one its client asked for, when the bridge knows it and the
 * server speaks it or later (revisions only add); else the server's own, which the client may
 * refuse, as the spec lets it.
 */
export function negotiated(requested: unknown, upstream: string): string {
  const known = typeof requested === 'string' && sessionRevisions.includes(requested);
  return known && requested <= upstream ? requested : upstream;
}

/** Content block types by the revision that introduced them. */
const contentSince: Record<string, string> = {
  text: '2024-10-07',
  image: '2024-10-07',
  resource: '2024-10-07',
  audio: '2025-03-26',
  resource_link: '2025-06-18',
};

type Block = { type?: unknown; [key: string]: unknown };

/** A block the session's revision has no type for, as text that says what it was. */
function lowerBlock(block: Block, version: string): Block {
  const since = typeof block.type === 'string' ? contentSince[block.type] : undefined;
  if (since === undefined || since <= version) return block;
  if (block.type === 'resource_link')
    return { type: 'text', text: `${String(block.name ?? 'resource')}: ${String(block.uri)}` };
  return {
    type: 'text',
    text: `[${String(block.type)} content (${String(block.mimeType ?? 'unknown type')}) omitted: MCP ${version} has no ${String(block.type)} content]`,
  };
}

/**
 * A server's message, as a session of an older revision can read it: content blocks of later
 * types (tool results, prompt messages) become text. Fields a revision does not know are kept:
 * clients ignore them; a block of an unknown type fails their validation.
 */
export function lowered(message: JSONRPCMessage, version: string): JSONRPCMessage {
  // A revision the bridge does not know is left alone: it cannot say what such a client reads.
  if (!sessionRevisions.includes(version) || version >= bridgeRevision || !('result' in message))
    return message;
  const result = { ...(message.result as Record<string, unknown>) };
  if (Array.isArray(result.content))
    result.content = result.content.map((b: Block) => lowerBlock(b, version));
  if (Array.isArray(result.messages)) {
    // A prompt message holds one block.
    result.messages = result.messages.map((m: { content?: Block }) =>
      m.content === undefined ? m : { ...m, content: lowerBlock(m.content, version) },
    );
  }
  return { ...message, result } as JSONRPCMessage;
}
