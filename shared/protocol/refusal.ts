/**
 * Every way the gateway refuses, as one union: at the HTTP level (credentials, limits, sessions)
 * and inside the protocol (a tool not permitted, a timeout, a server that exited). `toWire` is
 * the one place that gives each kind its HTTP status, JSON-RPC code and text; `reasonOf` is the
 * one place that names it for metrics, Analytics Engine and audit lines. One file, longer than
 * most, on purpose: a kind's code, status and words are read and changed together.
 */
import type { JSONRPCMessage, RequestId } from './jsonrpc.ts';

/** The JSON-RPC error codes the gateway answers with: one meaning each. */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** The generic "server error": what the refusal is, the message and `data.reason` say. */
  ServerError: -32000,
  SessionNotFound: -32001,
  // -32002 is MCP's "resource not found", a server's own answer: never the gateway's.
  UpstreamExited: -32003,
  UpstreamUnavailable: -32004,
  NotPermitted: -32005,
  RequestTimeout: -32006,
  // 2026-07-28's own codes.
  HeaderMismatch: -32020,
  MissingRequiredClientCapability: -32021,
  UnsupportedProtocolVersion: -32022,
  /** ToolHive's rate-limit code, with `data.retryAfterSeconds`: a quota is used up. */
  QuotaExceeded: -32029,
  /** MCP 2025-11-25's URLElicitationRequiredError: the person must open a link first. */
  UrlElicitationRequired: -32042,
} as const;

/** Why an API key the caller did send is refused: none of these is cured by an OAuth sign-in. */
export type KeyRefusal = 'unknown' | 'revoked' | 'expired';

/** What a policy covers: the three kinds of things a server offers. */
export type Offered = 'tools' | 'prompts' | 'resources';

export type Refusal =
  | { kind: 'body_too_large'; limit: number }
  | { kind: 'invalid_json' }
  | { kind: 'invalid_message'; detail: string }
  | { kind: 'missing_session' }
  | { kind: 'unknown_session' }
  | { kind: 'invalid_session_id' }
  | { kind: 'unknown_server'; server: string }
  | { kind: 'too_many_sessions'; retryAfterSeconds: number }
  | { kind: 'too_many_listeners'; retryAfterSeconds: number }
  | { kind: 'draining'; retryAfterSeconds: number }
  | { kind: 'memory_full'; retryAfterSeconds: number }
  | { kind: 'upstream_unavailable'; reason?: string }
  | { kind: 'upstream_failed'; detail: string; busy?: boolean }
  | { kind: 'upstream_exited'; detail: string }
  | { kind: 'request_timeout'; seconds: number }
  | { kind: 'client_gone' }
  | { kind: 'unauthenticated'; reason: 'unsigned' | 'malformed' | 'bad_signature' | 'stale' | 'replayed' }
  | { kind: 'unauthorized'; resourceMetadata: string; detail: string }
  | { kind: 'key_refused'; reason: KeyRefusal }
  | { kind: 'malformed_credentials' }
  | { kind: 'forbidden'; server: string }
  /** The caller's own credential for the server could not be had (docs/upstream-identity.md); never a token. */
  | { kind: 'identity_refused'; server: string; detail: string }
  /** The caller used up a quota of this tool (docs/server-documents.md#quotas). */
  | {
      kind: 'quota_exceeded';
      server: string;
      tool: string;
      limit: number;
      per: 'minute' | 'hour' | 'day';
      retryAfterSeconds: number;
    }
  /** A call that needs the person's approval: not given (declined, cancelled) … */
  | { kind: 'approval_declined'; server: string; tool: string; action: 'decline' | 'cancel' }
  /** … not askable (a client without elicitation), or not answered in time … */
  | { kind: 'approval_unavailable'; server: string; tool: string; reason: 'no_elicitation' | 'timed_out' }
  /** … or a 2026-07-28 requestState of the gateway's that is tampered with, spent, expired or for another call. */
  | { kind: 'approval_invalid'; detail: string }
  /** A pinned server's tool that is not as reviewed (docs/server-documents.md#pins). */
  | {
      kind: 'tool_not_pinned';
      server: string;
      tool: string;
      state: 'drifted' | 'unpinned' | 'unseen';
      /** For a drifted tool: the fields that differ from its pin. */
      fields: string[];
    }
  /** The person must connect their account for a `per-user-oauth` server first, at `url`. */
  | { kind: 'connect_required'; server: string; url: string; again: boolean }
  | { kind: 'document_invalid'; server: string }
  | { kind: 'batch_refused' }
  | { kind: 'gateway_misconfigured' }
  /** A fault of the gateway's own: what it was goes to the log, never to the caller. */
  | { kind: 'internal_error' }
  | { kind: 'forbidden_host' }
  | { kind: 'forbidden_origin' }
  | { kind: 'method_not_allowed'; allow: string }
  | { kind: 'not_found' }
  /** A method MCP does not have; 2026-07-28 answers it with 404 so that clients fall back. */
  | { kind: 'unknown_method'; method: string; stateless: boolean }
  | { kind: 'invalid_params'; detail: string }
  | { kind: 'not_permitted'; offered: Offered; name: string | undefined; server: string; reason: string }
  | { kind: 'header_mismatch'; detail: string; header?: string }
  | { kind: 'unsupported_version'; requested: string; supported: readonly string[] }
  /** A 2026-07-28 request the SDK's classifier refused, with the status and code it chose. */
  | { kind: 'malformed_request'; status: number; code: number; message: string; data?: unknown }
  | { kind: 'missing_capability'; required: Record<string, object> }
  /** A server's question the bridge cannot put to anyone (answered to the server, not a client). */
  | { kind: 'question_refused'; detail: string }
  | { kind: 'no_client'; detail: string };

export type RefusalKind = Refusal['kind'];

const keyRefusals: Record<KeyRefusal, string> = {
  unknown: 'this API key is not one this gateway issued (mistyped, or cut short?)',
  revoked: 'this API key was revoked',
  expired: 'this API key has expired',
};

export interface WireError {
  status: number;
  headers: Record<string, string>;
  body: { jsonrpc: '2.0'; id: RequestId | null; error: { code: number; message: string; data?: unknown } };
}

/** The refusal as it goes out: status, headers and a JSON-RPC error answering `id` (null: unread). */
export function toWire(refusal: Refusal, id: RequestId | null = null): WireError {
  const { status, code, message, headers = {}, data } = shape(refusal);
  const error = data === undefined ? { code, message } : { code, message, data };
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: { jsonrpc: '2.0', id, error },
  };
}

/** The refusal as a Web `Response`: how the Worker and the bridge both answer with it. */
export function refusalResponse(
  refusal: Refusal,
  id: RequestId | null = null,
  headers: Record<string, string> = {},
): Response {
  const wire = toWire(refusal, id);
  return new Response(JSON.stringify(wire.body), {
    status: wire.status,
    headers: { ...wire.headers, ...headers },
  });
}

/** The JSON-RPC error message alone, for a refusal that travels on a stream or to a server. */
export function errorOf(refusal: Refusal, id: RequestId | null): JSONRPCMessage {
  return toWire(refusal, id).body as JSONRPCMessage;
}

/** The name metrics, Analytics Engine and audit lines give the refusal. */
export function reasonOf(refusal: Refusal): string {
  switch (refusal.kind) {
    case 'not_permitted':
      return refusal.reason;
    case 'invalid_params':
      return 'invalid';
    case 'tool_not_pinned':
      return `tool_${refusal.state}`;
    case 'approval_declined':
      return 'declined';
    case 'approval_unavailable':
      return `approval_${refusal.reason}`;
    case 'malformed_request':
      return 'invalid_request';
    case 'unauthenticated':
      return `signature_${refusal.reason}`;
    default:
      return refusal.kind;
  }
}

interface Shape {
  status: number;
  code: number;
  message: string;
  headers?: Record<string, string>;
  data?: unknown;
}

const retry = (seconds: number) => ({ 'retry-after': String(seconds) });

function shape(refusal: Refusal): Shape {
  const E = ErrorCode;
  switch (refusal.kind) {
    case 'body_too_large':
      return {
        status: 413,
        code: E.InvalidRequest,
        message: `Request body exceeds the limit of ${refusal.limit} bytes`,
      };
    case 'invalid_json':
      return { status: 400, code: E.ParseError, message: 'Parse error: the body is not valid JSON' };
    case 'invalid_message':
      return { status: 400, code: E.InvalidRequest, message: `Invalid Request: ${refusal.detail}` };
    case 'missing_session':
      return {
        status: 400,
        code: E.ServerError,
        message: 'Bad Request: Mcp-Session-Id header is required (send initialize first)',
      };
    case 'unknown_session':
      return {
        status: 404,
        code: E.SessionNotFound,
        message: 'Session not found: it ended or never existed; initialize a new session',
      };
    case 'invalid_session_id':
      return {
        status: 400,
        code: E.InvalidRequest,
        message: 'Bad Request: Mcp-Session-Id must be 1 to 256 visible ASCII characters',
      };
    case 'unknown_server':
      return {
        status: 404,
        code: E.MethodNotFound,
        message: `No MCP server named "${refusal.server}" is served here`,
      };
    case 'too_many_sessions':
      return {
        status: 503,
        code: E.ServerError,
        message: 'Too many sessions for this server; retry later',
        headers: retry(refusal.retryAfterSeconds),
      };
    case 'too_many_listeners':
      return {
        status: 503,
        code: E.UpstreamUnavailable,
        message: 'too many subscriptions/listen streams on this server; retry later',
        headers: retry(refusal.retryAfterSeconds),
      };
    case 'draining':
      return {
        status: 503,
        code: E.ServerError,
        message: 'The bridge is shutting down; retry on another instance',
        headers: retry(refusal.retryAfterSeconds),
      };
    case 'memory_full':
      // The figures go to the bridge's log and metrics, not to whoever asked.
      return {
        status: 503,
        code: E.ServerError,
        message: 'The bridge is near its memory limit and starts no more MCP server processes; retry later',
        headers: retry(refusal.retryAfterSeconds),
        data: { reason: 'memory' },
      };
    case 'upstream_unavailable':
      return {
        status: 502,
        code: E.UpstreamUnavailable,
        message: 'The MCP server could not be started or reached; retry later',
        ...(refusal.reason === undefined ? {} : { data: { reason: refusal.reason } }),
      };
    case 'upstream_failed':
      return {
        status: refusal.busy ? 503 : 502,
        code: E.UpstreamUnavailable,
        message: `MCP server unavailable: ${refusal.detail}`,
      };
    case 'upstream_exited':
      return { status: 502, code: E.UpstreamExited, message: refusal.detail };
    case 'request_timeout':
      return { status: 504, code: E.RequestTimeout, message: `Request timed out after ${refusal.seconds} s` };
    case 'client_gone':
      return { status: 499, code: E.ServerError, message: 'the client went away' };
    case 'unauthenticated':
      return {
        status: 401,
        code: E.ServerError,
        message: `Unauthorized: the edge signature is ${refusal.reason.replace('_', ' ')}`,
      };
    case 'unauthorized':
      return {
        status: 401,
        code: E.ServerError,
        message: `Unauthorized: ${refusal.detail}`,
        headers: { 'www-authenticate': `Bearer resource_metadata="${refusal.resourceMetadata}"` },
      };
    case 'key_refused':
      // 403, not 401: clients answer any 401 by starting an OAuth sign-in (mcp-remote then waits
      // for a browser forever), and the person never reads why their key failed.
      return {
        status: 403,
        code: E.ServerError,
        message: `Forbidden: ${keyRefusals[refusal.reason]}; ask your gateway admin for a new key`,
        data: { reason: `key_${refusal.reason}` },
      };
    case 'malformed_credentials':
      return {
        status: 400,
        code: E.InvalidRequest,
        message: 'Bad Request: the Authorization header must be "Bearer <API key or token>"',
      };
    case 'identity_refused':
      return {
        status: 403,
        code: E.ServerError,
        message: `Your own credential for the MCP server "${refusal.server}" could not be had: ${refusal.detail}`,
      };
    case 'quota_exceeded':
      // 200: a JSON-RPC error the client reads (as ToolHive answers), with when to try again.
      return {
        status: 200,
        code: E.QuotaExceeded,
        message: `Quota exceeded: ${refusal.limit} calls of "${refusal.tool}" per ${refusal.per} on MCP server "${refusal.server}"; retry in ${refusal.retryAfterSeconds} s`,
        headers: retry(refusal.retryAfterSeconds),
        data: { reason: 'quota_exceeded', retryAfterSeconds: refusal.retryAfterSeconds },
      };
    case 'connect_required': {
      // 200: clients read a JSON-RPC error in a 200 as the server's answer (the SDK's
      // UrlElicitationRequiredError), and show the message, link included, if they know no better.
      const why = refusal.again
        ? 'Your connected account is no longer accepted'
        : 'You have not connected your account';
      const message = `${why} for the MCP server "${refusal.server}": open ${refusal.url} in your browser to connect it, then try again.`;
      return {
        status: 200,
        code: E.UrlElicitationRequired,
        message,
        data: {
          elicitations: [
            { mode: 'url', elicitationId: `connect:${refusal.server}`, url: refusal.url, message },
          ],
        },
      };
    }
    case 'forbidden':
      return {
        status: 403,
        code: E.ServerError,
        message: `Forbidden: you may not use the MCP server "${refusal.server}"`,
      };
    case 'document_invalid':
      return {
        status: 503,
        code: E.ServerError,
        message: `The server document for "${refusal.server}" is invalid; the gateway refuses to serve it`,
      };
    case 'batch_refused':
      return {
        status: 400,
        code: E.InvalidRequest,
        message: 'Invalid Request: JSON-RPC batches are not accepted; send one message per request',
      };
    case 'gateway_misconfigured':
      return {
        status: 500,
        code: E.ServerError,
        message: 'The gateway is misconfigured; its operators have been told in the log',
      };
    case 'internal_error':
      return {
        status: 500,
        code: E.InternalError,
        message: 'Internal error; its operators have been told in the log',
      };
    case 'forbidden_host':
      return {
        status: 403,
        code: E.ServerError,
        message: 'Forbidden: this Host is not served here (DNS rebinding protection)',
      };
    case 'forbidden_origin':
      return {
        status: 403,
        code: E.ServerError,
        message: 'Forbidden: requests from this browser Origin are not allowed',
      };
    case 'method_not_allowed':
      return {
        status: 405,
        code: E.ServerError,
        message: 'Method not allowed',
        headers: { allow: refusal.allow },
      };
    case 'not_found':
      return {
        status: 404,
        code: E.MethodNotFound,
        message: 'Not found: MCP endpoints are served at /<server>/mcp',
      };
    case 'unknown_method':
      return {
        status: refusal.stateless ? 404 : 200,
        code: E.MethodNotFound,
        message: `Method not found: ${refusal.method}`,
      };
    case 'invalid_params':
      return { status: 200, code: E.InvalidParams, message: refusal.detail };
    case 'not_permitted':
      return { status: 200, code: E.NotPermitted, message: notPermittedText(refusal) };
    case 'approval_declined':
      return {
        status: 200,
        code: E.NotPermitted,
        message: `You did not approve the call of "${refusal.tool}" on MCP server "${refusal.server}" (${refusal.action === 'decline' ? 'declined' : 'cancelled'}); it was not made.`,
        data: { reason: 'declined' },
      };
    case 'approval_unavailable':
      return {
        status: 200,
        code: E.NotPermitted,
        message:
          refusal.reason === 'no_elicitation'
            ? `The call of "${refusal.tool}" on MCP server "${refusal.server}" needs your approval, and this client cannot ask you (it did not declare elicitation); it was not made. Use a client that supports elicitation.`
            : `The call of "${refusal.tool}" on MCP server "${refusal.server}" needs your approval, and none came in time; it was not made.`,
        data: { reason: `approval_${refusal.reason}` },
      };
    case 'approval_invalid':
      return {
        status: 200,
        code: E.InvalidParams,
        message: `${refusal.detail}: send the call again without requestState to be asked again`,
        data: { reason: 'approval_invalid' },
      };
    case 'tool_not_pinned':
      return {
        status: 200,
        code: E.NotPermitted,
        message: notPinnedText(refusal),
        data: {
          reason: `tool_${refusal.state}`,
          ...(refusal.fields.length > 0 ? { fields: refusal.fields } : {}),
        },
      };
    case 'header_mismatch':
      return {
        status: 400,
        code: E.HeaderMismatch,
        message: `Bad Request: ${refusal.detail}`,
        data: {
          mismatch: {
            ...(refusal.header === undefined ? {} : { header: refusal.header }),
            body: refusal.detail,
          },
        },
      };
    case 'unsupported_version':
      return {
        status: 400,
        code: E.UnsupportedProtocolVersion,
        message: `Unsupported protocol version: ${refusal.requested}`,
        data: { supported: refusal.supported, requested: refusal.requested },
      };
    case 'malformed_request':
      return { status: refusal.status, code: refusal.code, message: refusal.message, data: refusal.data };
    case 'missing_capability': {
      const names = Object.keys(refusal.required).join(', ');
      return {
        status: 400,
        code: E.MissingRequiredClientCapability,
        message: `The MCP server needs a client capability this request did not declare: ${names}`,
        data: { requiredCapabilities: refusal.required },
      };
    }
    case 'question_refused':
      return { status: 200, code: E.MethodNotFound, message: refusal.detail };
    case 'no_client':
      return { status: 200, code: E.ServerError, message: refusal.detail };
    default:
      return assertNever(refusal);
  }
}

const offeredWords: Record<Offered, [string, string]> = {
  tools: ['Tool', 'a tool from tools/list'],
  prompts: ['Prompt', 'one from prompts/list'],
  resources: ['Resource', 'one from resources/list'],
};

/** What a refused tool, prompt or resource is told: which, where, why, and what to do instead. */
function notPermittedText(refusal: Extract<Refusal, { kind: 'not_permitted' }>): string {
  const [what, instead] = offeredWords[refusal.offered];
  const why =
    refusal.reason === 'unclear_uri'
      ? 'a URI with . or .. segments, an escaped /, \\ or %, or a control character is refused as written'
      : refusal.reason.replace('_', ' ');
  return `${what} "${refusal.name ?? '?'}" is not permitted for you on MCP server "${refusal.server}" (${why}). Do not retry it; use ${instead}.`;
}

/** A held-back tool's caller is told what is wrong with it and what happens next; never the new definition. */
function notPinnedText(refusal: Extract<Refusal, { kind: 'tool_not_pinned' }>): string {
  const tool = `Tool "${refusal.tool}" on MCP server "${refusal.server}"`;
  switch (refusal.state) {
    case 'drifted':
      return `${tool} changed since an admin reviewed it (${refusal.fields.join(', ')} differ from its pin); it is held back until the change is reviewed (mcpgw drift ${refusal.server}). Do not retry it.`;
    case 'unpinned':
      return `${tool} has no reviewed definition (pin); it is not served until an admin pins it (mcpgw pin ${refusal.server}). Do not retry it.`;
    case 'unseen':
      return `${tool} has not been listed to the gateway yet, so its definition is unchecked: list the tools (tools/list), then call it.`;
  }
}

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
