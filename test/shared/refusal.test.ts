import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  errorOf,
  type Refusal,
  type RefusalKind,
  reasonOf,
  toWire,
} from '../../shared/protocol/refusal.ts';

/** One refusal of every kind: the compiler refuses this table if a kind is added and not shown here. */
const every: { [K in RefusalKind]: Extract<Refusal, { kind: K }> } = {
  body_too_large: { kind: 'body_too_large', limit: 1024 },
  invalid_json: { kind: 'invalid_json' },
  invalid_message: { kind: 'invalid_message', detail: 'no jsonrpc' },
  missing_session: { kind: 'missing_session' },
  unknown_session: { kind: 'unknown_session' },
  invalid_session_id: { kind: 'invalid_session_id' },
  unknown_server: { kind: 'unknown_server', server: 'nope' },
  too_many_sessions: { kind: 'too_many_sessions', retryAfterSeconds: 2 },
  too_many_listeners: { kind: 'too_many_listeners', retryAfterSeconds: 5 },
  draining: { kind: 'draining', retryAfterSeconds: 1 },
  memory_full: { kind: 'memory_full', retryAfterSeconds: 3 },
  upstream_unavailable: { kind: 'upstream_unavailable', reason: 'spawn failed' },
  upstream_failed: { kind: 'upstream_failed', detail: 'EPIPE' },
  upstream_exited: { kind: 'upstream_exited', detail: 'the MCP server exited with code 1' },
  request_timeout: { kind: 'request_timeout', seconds: 2 },
  client_gone: { kind: 'client_gone' },
  unauthenticated: { kind: 'unauthenticated', reason: 'bad_signature' },
  unauthorized: { kind: 'unauthorized', resourceMetadata: 'https://g/.well-known/x', detail: 'sign in' },
  key_refused: { kind: 'key_refused', reason: 'revoked' },
  malformed_credentials: { kind: 'malformed_credentials' },
  forbidden: { kind: 'forbidden', server: 'everything' },
  identity_refused: {
    kind: 'identity_refused',
    server: 'openshift',
    detail: 'the identity provider said access_denied',
  },
  connect_required: {
    kind: 'connect_required',
    server: 'github',
    url: 'https://gateway.example/connect/github',
    again: false,
  },
  quota_exceeded: {
    kind: 'quota_exceeded',
    server: 'openshift',
    tool: 'pods_delete',
    limit: 5,
    per: 'hour',
    retryAfterSeconds: 1200,
  },
  document_invalid: { kind: 'document_invalid', server: 'everything' },
  approval_declined: { kind: 'approval_declined', server: 'ops', tool: 'pods_delete', action: 'decline' },
  approval_unavailable: {
    kind: 'approval_unavailable',
    server: 'ops',
    tool: 'pods_delete',
    reason: 'no_elicitation',
  },
  approval_invalid: { kind: 'approval_invalid', detail: 'requestState has expired' },
  tool_not_pinned: {
    kind: 'tool_not_pinned',
    server: 'everything',
    tool: 'echo',
    state: 'drifted',
    fields: ['description'],
  },
  batch_refused: { kind: 'batch_refused' },
  gateway_misconfigured: { kind: 'gateway_misconfigured' },
  internal_error: { kind: 'internal_error' },
  forbidden_host: { kind: 'forbidden_host' },
  forbidden_origin: { kind: 'forbidden_origin' },
  method_not_allowed: { kind: 'method_not_allowed', allow: 'GET, POST' },
  not_found: { kind: 'not_found' },
  unknown_method: { kind: 'unknown_method', method: 'initialize', stateless: true },
  invalid_params: { kind: 'invalid_params', detail: 'tools/call needs params.name, a string' },
  not_permitted: {
    kind: 'not_permitted',
    offered: 'tools',
    name: 'get-env',
    server: 'everything',
    reason: 'hidden',
  },
  header_mismatch: { kind: 'header_mismatch', detail: 'Mcp-Name names another tool', header: 'x' },
  unsupported_version: { kind: 'unsupported_version', requested: '2099-01-01', supported: ['2026-07-28'] },
  malformed_request: { kind: 'malformed_request', status: 400, code: -32602, message: 'no envelope' },
  missing_capability: { kind: 'missing_capability', required: { elicitation: {} } },
  question_refused: { kind: 'question_refused', detail: 'the client did not declare sampling' },
  no_client: { kind: 'no_client', detail: 'no client session to ask' },
};

const codes = new Set<number>(Object.values(ErrorCode));

describe('the one refusal funnel', () => {
  it('gives every code in the table one meaning (a timeout is not "session not found")', () => {
    expect(codes.size).toBe(Object.keys(ErrorCode).length);
    expect(ErrorCode.RequestTimeout).not.toBe(ErrorCode.SessionNotFound);
  });

  it.each(Object.values(every))(
    'answers $kind with a status, a code from the table and the id asked',
    (refusal) => {
      const wire = toWire(refusal, 42);
      expect(wire.status).toBeGreaterThanOrEqual(200);
      expect(wire.status).toBeLessThan(600);
      expect(wire.headers['content-type']).toBe('application/json');
      expect(wire.body).toMatchObject({ jsonrpc: '2.0', id: 42 });
      expect(wire.body.error.message.length).toBeGreaterThan(10);
      if (refusal.kind !== 'malformed_request') expect(codes).toContain(wire.body.error.code);
      expect(errorOf(refusal, 42)).toEqual(wire.body);
      expect(reasonOf(refusal)).toMatch(/^[a-z_]+$/);
    },
  );

  it('asks the person to connect their account as MCP asks for a URL (URLElicitationRequiredError)', () => {
    const wire = toWire(every.connect_required, 7);
    expect(wire.status).toBe(200);
    expect(wire.body.error.code).toBe(-32042);
    expect(wire.body.error.message).toContain('https://gateway.example/connect/github');
    const [elicitation] = (wire.body.error.data as { elicitations: Record<string, string>[] }).elicitations;
    expect(elicitation).toMatchObject({ mode: 'url', url: 'https://gateway.example/connect/github' });
    expect(elicitation?.elicitationId).toBe('connect:github');
  });

  it('answers a used-up quota as ToolHive does: -32029 with data.retryAfterSeconds', () => {
    const wire = toWire(every.quota_exceeded, 3);
    expect(wire.body.error).toMatchObject({ code: -32029, data: { retryAfterSeconds: 1200 } });
    expect(wire.body.error.message).toContain('5 calls of "pods_delete" per hour');
    expect(wire.headers['retry-after']).toBe('1200');
  });

  it('answers null when the request could not be read, and says when to retry', () => {
    expect(toWire(every.invalid_json).body.id).toBeNull();
    expect(toWire(every.too_many_sessions).headers['retry-after']).toBe('2');
    expect(toWire(every.memory_full).headers['retry-after']).toBe('3');
  });

  it('names refusals for metrics and Analytics Engine from their kind', () => {
    expect(reasonOf(every.not_permitted)).toBe('hidden');
    expect(reasonOf(every.unauthenticated)).toBe('signature_bad_signature');
    expect(reasonOf(every.malformed_request)).toBe('invalid_request');
    expect(reasonOf(every.invalid_params)).toBe('invalid');
    expect(reasonOf(every.header_mismatch)).toBe('header_mismatch');
  });

  it('answers 404 only for a method a stateless request names, 200 inside a session', () => {
    expect(toWire(every.unknown_method).status).toBe(404);
    expect(toWire({ ...every.unknown_method, stateless: false }).status).toBe(200);
    expect(toWire(every.not_permitted).body.error).toMatchObject({
      code: -32005,
      message: expect.stringContaining(
        'Tool "get-env" is not permitted for you on MCP server "everything" (hidden)',
      ),
    });
  });
});
