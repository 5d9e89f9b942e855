import { canonicalJson } from '../protocol/canonical-json.ts';
import { sha256Hex } from '../security/digest.ts';
import type { ServerDocument } from './document.ts';
import { anyMatches } from './glob.ts';
import type { Principal } from './policy.ts';
import { appliesTo } from './quota.ts';

/**
 * A person's approval of a risky call (docs/server-documents.md#confirm): the document names the
 * tools, the gateway asks the person with an elicitation naming the server, the tool and the
 * arguments, and forwards the call only once they accept. Pure: what needs asking, and what
 * is asked.
 */

/** The key of the gateway's own question among a 2026-07-28 answer's `inputRequests`. */
export const confirmKey = 'mcp-gateway-confirm';

export function needsConfirmation(doc: ServerDocument, principal: Principal, tool: string): boolean {
  return doc.confirm.some((rule) => anyMatches(rule.tools, tool) && appliesTo(rule, principal));
}

const maxValue = 120;
const maxSummary = 1000;

/** The arguments as a person reads them: `name: value` lines, each value cut short. */
export function summary(args: unknown): string {
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    return args === undefined ? '(no arguments)' : cut(JSON.stringify(args), maxSummary);
  }
  const entries = Object.entries(args as Record<string, unknown>);
  if (entries.length === 0) return '(no arguments)';
  const lines = entries.map(([name, value]) => `${name}: ${cut(JSON.stringify(value) ?? 'null', maxValue)}`);
  return cut(lines.join('\n'), maxSummary);
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
}

/** The elicitation the gateway sends: a form with nothing to fill in, accepted or declined. */
export function confirmationRequest(server: string, tool: string, args: unknown) {
  return {
    mode: 'form' as const,
    message: `Allow the call of "${tool}" on the MCP server "${server}"?\n${summary(args)}`,
    requestedSchema: { type: 'object' as const, properties: {} },
  };
}

/** What an approval is for: this tool with exactly these arguments. */
export async function callDigest(tool: string, args: unknown): Promise<string> {
  return sha256Hex(canonicalJson({ tool, arguments: args ?? null }));
}
