/**
 * Every way the gateway refuses an HTTP request, as one union, and the one place
 * that turns each kind into its wire form (HTTP status + JSON-RPC error body).
 */
export type HttpRefusal =
  | { kind: 'body_too_large'; limit: number }
  | { kind: 'invalid_json' }
  | { kind: 'invalid_message'; detail: string }
  | { kind: 'missing_session' }
  | { kind: 'unknown_session' }
  | { kind: 'invalid_session_id' }
  | { kind: 'unknown_server'; server: string }
  | { kind: 'too_many_sessions'; retryAfterSeconds: number }
  | { kind: 'draining'; retryAfterSeconds: number }
  | { kind: 'memory_full'; retryAfterSeconds: number }
  | { kind: 'upstream_unavailable'; reason?: string }
  | { kind: 'unauthenticated'; reason: 'unsigned' | 'malformed' | 'bad_signature' | 'stale' | 'replayed' }
  | { kind: 'unauthorized'; resourceMetadata: string; detail: string }
  | { kind: 'key_refused'; reason: KeyRefusal }
  | { kind: 'malformed_credentials' }
  | { kind: 'forbidden'; server: string }
  | { kind: 'document_invalid'; server: string }
  | { kind: 'batch_refused' }
  | { kind: 'gateway_misconfigured' }
  | { kind: 'forbidden_host' }
  | { kind: 'forbidden_origin' }
  | { kind: 'method_not_allowed'; allow: string }
  | { kind: 'not_found' };

export type RefusalKind = HttpRefusal['kind'];

/** Why an API key the caller did send is refused: none of these is cured by an OAuth sign-in. */
export type KeyRefusal = 'unknown' | 'revoked' | 'expired';

const keyRefusals: Record<KeyRefusal, string> = {
  unknown: 'this API key is not one this gateway issued (mistyped, or cut short?)',
  revoked: 'this API key was revoked',
  expired: 'this API key has expired',
};

export const refusalKinds: readonly RefusalKind[] = [
  'body_too_large',
  'invalid_json',
  'invalid_message',
  'missing_session',
  'unknown_session',
  'invalid_session_id',
  'unknown_server',
  'too_many_sessions',
  'draining',
  'memory_full',
  'upstream_unavailable',
  'unauthenticated',
  'unauthorized',
  'key_refused',
  'malformed_credentials',
  'forbidden',
  'document_invalid',
  'batch_refused',
  'gateway_misconfigured',
  'forbidden_host',
  'forbidden_origin',
  'method_not_allowed',
  'not_found',
];

export interface WireError {
  status: number;
  headers: Record<string, string>;
  body: { jsonrpc: '2.0'; id: null; error: { code: number; message: string; data?: { reason: string } } };
}

function wire(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
  reason?: string,
): WireError {
  const error = reason === undefined ? { code, message } : { code, message, data: { reason } };
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: { jsonrpc: '2.0', id: null, error },
  };
}

export function toWire(refusal: HttpRefusal): WireError {
  switch (refusal.kind) {
    case 'body_too_large':
      return wire(413, -32600, `Request body exceeds the limit of ${refusal.limit} bytes`);
    case 'invalid_json':
      return wire(400, -32700, 'Parse error: the body is not valid JSON');
    case 'invalid_message':
      return wire(400, -32600, `Invalid Request: ${refusal.detail}`);
    case 'missing_session':
      return wire(400, -32000, 'Bad Request: Mcp-Session-Id header is required (send initialize first)');
    case 'unknown_session':
      return wire(404, -32001, 'Session not found: it ended or never existed; initialize a new session');
    case 'invalid_session_id':
      return wire(400, -32600, 'Bad Request: Mcp-Session-Id must be 1 to 256 visible ASCII characters');
    case 'unknown_server':
      return wire(404, -32601, `No MCP server named "${refusal.server}" is served here`);
    case 'too_many_sessions':
      return wire(503, -32000, 'Too many sessions for this server; retry later', {
        'retry-after': String(refusal.retryAfterSeconds),
      });
    case 'draining':
      return wire(503, -32000, 'The bridge is shutting down; retry on another instance', {
        'retry-after': String(refusal.retryAfterSeconds),
      });
    case 'memory_full':
      // The figures go to the bridge's log and metrics, not to whoever asked.
      return wire(
        503,
        -32000,
        'The bridge is near its memory limit and starts no more MCP server processes; retry later',
        { 'retry-after': String(refusal.retryAfterSeconds) },
        'memory',
      );
    case 'upstream_unavailable':
      return wire(
        502,
        -32004,
        'The MCP server could not be started or reached; retry later',
        {},
        refusal.reason,
      );
    case 'unauthenticated':
      return wire(401, -32000, `Unauthorized: the edge signature is ${refusal.reason.replace('_', ' ')}`);
    case 'unauthorized':
      return wire(401, -32000, `Unauthorized: ${refusal.detail}`, {
        'www-authenticate': `Bearer resource_metadata="${refusal.resourceMetadata}"`,
      });
    case 'key_refused':
      // 403, not 401: clients answer any 401 by starting an OAuth sign-in (mcp-remote then waits
      // for a browser forever), and the person never reads why their key failed.
      return wire(
        403,
        -32000,
        `Forbidden: ${keyRefusals[refusal.reason]}; ask your gateway admin for a new key`,
        {},
        `key_${refusal.reason}`,
      );
    case 'malformed_credentials':
      return wire(400, -32600, 'Bad Request: the Authorization header must be "Bearer <API key or token>"');
    case 'forbidden':
      return wire(403, -32000, `Forbidden: you may not use the MCP server "${refusal.server}"`);
    case 'document_invalid':
      return wire(
        503,
        -32000,
        `The server document for "${refusal.server}" is invalid; the gateway refuses to serve it`,
      );
    case 'batch_refused':
      return wire(
        400,
        -32600,
        'Invalid Request: JSON-RPC batches are not accepted; send one message per request',
      );
    case 'gateway_misconfigured':
      return wire(500, -32000, 'The gateway is misconfigured; its operators have been told in the log');
    case 'forbidden_host':
      return wire(403, -32000, 'Forbidden: this Host is not served here (DNS rebinding protection)');
    case 'forbidden_origin':
      return wire(403, -32000, 'Forbidden: requests from this browser Origin are not allowed');
    case 'method_not_allowed':
      return wire(405, -32000, 'Method not allowed', { allow: refusal.allow });
    case 'not_found':
      return wire(404, -32601, 'Not found: MCP endpoints are served at /<server>/mcp');
    default:
      return assertNever(refusal);
  }
}

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
