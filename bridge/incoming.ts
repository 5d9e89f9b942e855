import { type Revision, revisionOf } from '../shared/protocol/revision.ts';

/** The revision of a POSTed message, from its headers and its body (which must agree). */
export function revisionOfPost(request: Request, body: unknown): Revision {
  const header = (name: string) => request.headers.get(name) ?? undefined;
  return revisionOf({
    httpMethod: 'POST',
    protocolVersion: header('mcp-protocol-version'),
    mcpMethod: header('mcp-method'),
    mcpName: header('mcp-name'),
    body,
  });
}

/** The 2026-07-28 continuation a request carries in its params, if any. */
export function requestStateOf(body: unknown): string | undefined {
  const state = (body as { params?: { requestState?: unknown } } | undefined)?.params?.requestState;
  return typeof state === 'string' ? state : undefined;
}
