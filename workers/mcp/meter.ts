import type { ServerDocument } from '../../shared/policy/document.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import type { RequestId } from '../../shared/protocol/jsonrpc.ts';
import { type Refusal, reasonOf, refusalResponse } from '../../shared/protocol/refusal.ts';
import { dataPointOf, type MessageRecord } from '../../shared/storage/analytics.ts';
import { audit } from './audit.ts';
import type { McpRequest, Passage } from './passage.ts';

/** The record of a request admitted for this principal, before anything of its body is known. */
export function recordOf(x: McpRequest, principal: Principal): MessageRecord {
  const method = x.request.method;
  return {
    server: x.server,
    method: method === 'POST' ? 'unknown' : `http/${method}`,
    name: '',
    decision: 'allowed',
    principal: principal.subject,
    status: 'success',
    protocolVersion: x.request.headers.get('mcp-protocol-version') ?? '',
    authMethod: principal.method,
    portal: '',
    exposed: '',
    durationMs: 0,
    requestBytes: 0,
    responseBytes: 0,
  };
}

/** The request has ended: its record goes to Analytics Engine and, for a tool call, to the audit log. */
export function finish(x: McpRequest, passage: Passage, status: string, responseBytes: number): void {
  const { record, doc } = passage;
  record.status = status;
  record.responseBytes = responseBytes;
  record.durationMs = Date.now() - passage.started;
  x.ctx.waitUntil(
    (async () => {
      x.env.ANALYTICS.writeDataPoint(dataPointOf(record));
      if (record.method !== 'tools/call') return;
      await audit(doc, {
        principal: record.principal,
        authMethod: record.authMethod,
        server: record.server,
        tool: record.name,
        decision: record.decision,
        status,
        arguments: passage.audited,
        ...(record.portal === '' ? {} : { portal: record.portal }),
        ...(record.exposed === '' ? {} : { exposed: record.exposed }),
        ...(passage.approval === undefined ? {} : { approval: passage.approval }),
        ...(status === 'refused' ? {} : { identity: identityOf(doc, record.principal) }),
      });
    })(),
  );
}

function identityOf(doc: ServerDocument, subject: string): { mode: string; subject?: string } {
  const { mode } = doc.identity;
  return mode === 'service' ? { mode } : { mode, subject };
}

/**
 * The edge cannot serve this request as configured: the operator is told in the log (`event`,
 * the server and the fix), the request is recorded as the gateway's fault, and the caller gets
 * 500 with no detail.
 */
export function misconfigured(
  x: McpRequest,
  passage: Passage,
  event: string,
  details: { server: string; fix: string; [field: string]: string },
): Response {
  console.error(JSON.stringify({ event, ...details }));
  finish(x, passage, 'upstream_error', 0);
  return refusalResponse({ kind: 'gateway_misconfigured' });
}

/** A request the edge refuses itself, once the policy was asked: recorded, audited, answered. */
export function refused(x: McpRequest, passage: Passage, refusal: Refusal, id: RequestId | null): Response {
  passage.record.decision = reasonOf(refusal);
  finish(x, passage, 'refused', 0);
  return refusalResponse(refusal, id);
}

/** A request refused for its revision is counted, and not audited: no policy was asked. */
export function countRefused(x: McpRequest, record: MessageRecord, started: number): void {
  record.status = 'refused';
  record.durationMs = Date.now() - started;
  x.env.ANALYTICS.writeDataPoint(dataPointOf(record));
}
