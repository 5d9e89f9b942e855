import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { encodeHeaderValue, metaKeys, modernRevision } from '../../shared/protocol/revision.ts';
import { connect } from './bridge.ts';

export interface ModernOptions {
  token?: string;
  /** Answers the server's elicitation; declaring it is what lets the server ask. */
  elicitation?: (request: { params: { message: string } }) => Promise<{
    action: 'accept' | 'decline' | 'cancel';
    content?: Record<string, string | number | boolean | string[]>;
  }>;
}

/** The SDK 2.x client, pinned to MCP 2026-07-28 (its default is still the 2025 handshake). */
export async function modernClient(url: URL, options: ModernOptions = {}): Promise<Client> {
  const capabilities = options.elicitation ? { elicitation: { form: {} } } : {};
  const client = new Client(
    { name: 'modern-test-client', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: modernRevision } }, capabilities },
  );
  if (options.elicitation) client.setRequestHandler('elicitation/create', options.elicitation);
  const requestInit = options.token ? { headers: { authorization: `Bearer ${options.token}` } } : undefined;
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit }));
  return client;
}

/**
 * One client per name, all calling server-everything's elicitation tool at once, each answering
 * with its own name: what each got back (the tool echoes the answer it received).
 */
export async function elicitAtOnce(url: URL, names: string[], token?: string): Promise<string[]> {
  const clients = await Promise.all(
    names.map((name) =>
      modernClient(url, {
        ...(token ? { token } : {}),
        elicitation: async () => ({ action: 'accept', content: { name, check: true } }),
      }),
    ),
  );
  try {
    const results = await Promise.all(
      clients.map((c) => c.callTool({ name: 'trigger-elicitation-request', arguments: {} })),
    );
    return results.map((result) => JSON.stringify(result.content));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/**
 * A 2025-11-25 client (SDK 1.x, a session) and a 2026-07-28 client calling server-everything's
 * `echo` at once, interleaved: what each call should get back and what it got, in order.
 */
export async function echoOnBothRevisions(
  url: URL,
  pairs: number,
  token?: string,
): Promise<{ expected: string[]; got: (string | undefined)[] }> {
  const legacy = await connect(url, 'legacy', token);
  const modern = await modernClient(url, token ? { token } : {});
  try {
    const messages = Array.from({ length: pairs }, (_, i) => [`legacy-${i}`, `modern-${i}`]).flat();
    const calls = messages.map((message, i) =>
      (i % 2 === 0 ? legacy : modern).callTool({ name: 'echo', arguments: { message } }),
    );
    const got = (await Promise.all(calls)).map((r) => (r.content as { text: string }[])[0]?.text);
    return { expected: messages.map((m) => `Echo: ${m}`), got };
  } finally {
    await legacy.close();
    await modern.close();
  }
}

let nextId = 1;

/**
 * One raw 2026-07-28 POST, headers computed from the body as a conforming client would;
 * `overrides` replaces (or with null removes) any of them, to play a client that lies.
 */
export async function postModern(
  url: URL,
  method: string,
  params: Record<string, unknown>,
  overrides: Record<string, string | null> = {},
  version = modernRevision,
  capabilities: Record<string, unknown> = {},
  token?: string,
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON-RPC answers by path
): Promise<{ status: number; headers: Headers; body: any }> {
  const meta = { [metaKeys.protocolVersion]: version, [metaKeys.clientCapabilities]: capabilities };
  const body = { jsonrpc: '2.0', id: nextId++, method, params: { ...params, _meta: meta } };
  const name = method === 'resources/read' ? params.uri : params.name;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': version,
    'mcp-method': method,
    ...(typeof name === 'string' && method !== 'tools/list' ? { 'mcp-name': encodeHeaderValue(name) } : {}),
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === null) delete headers[key];
    else headers[key] = value;
  }
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}
