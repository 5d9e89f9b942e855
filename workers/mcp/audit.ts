import type { ServerDocument } from '../../shared/policy/document.ts';
import { sha256Hex } from '../../shared/security/digest.ts';

export interface AuditEvent {
  principal: string;
  authMethod: string;
  server: string;
  tool: string;
  decision: string;
  status: string;
  arguments: unknown;
  /** The portal the call came through, when it did. */
  portal?: string;
  /** The tool's name as the client called it, when it is not `tool` (a portal's, a renamed tool's). */
  exposed?: string;
  /** Whose credential the server got: the bridge's (`service`), or the caller's own, and for whom. */
  identity?: { mode: string; subject?: string };
  /** Who approved the call when they were asked (docs/server-documents.md#confirm), and when. */
  approval?: { by: string; at: string };
}

async function digest(value: unknown): Promise<string> {
  return `sha256:${await sha256Hex(JSON.stringify(value ?? null))}`;
}

/**
 * One JSON line per tools/call in the Worker's log (Workers Logs and Logpush pick it up).
 * Arguments as the document says: none, a SHA-256 digest (default), or in full. Never a token.
 */
export async function audit(doc: ServerDocument, event: AuditEvent, now = new Date()): Promise<void> {
  const mode = doc.audit.arguments;
  const args =
    mode === 'none' ? undefined : mode === 'digest' ? await digest(event.arguments) : event.arguments;
  console.log(
    JSON.stringify({ event: 'mcp.tools.call', time: now.toISOString(), ...event, arguments: args }),
  );
}
