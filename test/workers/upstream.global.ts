import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import type { TestProject } from 'vitest/node';

/**
 * A recording upstream for the Worker tests, in Node on 127.0.0.1: it stands where the
 * bridge stands, records every request it gets, and answers like an MCP server would.
 * It also serves a JWKS for an OIDC issuer whose private key the tests get to mint tokens.
 */
interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const tools = [
  { name: 'echo', description: 'Echo', inputSchema: { type: 'object' } },
  { name: 'get-env', description: 'Print the environment', inputSchema: { type: 'object' } },
  { name: 'pods_list', description: 'List pods', inputSchema: { type: 'object' } },
  { name: 'pods_delete', description: 'Delete a pod', inputSchema: { type: 'object' } },
  { name: 'pods_log', description: 'Pod log', inputSchema: { type: 'object' } },
];

function answer(message: { id?: unknown; method?: string; params?: { name?: string; arguments?: unknown } }) {
  switch (message.method) {
    case 'initialize':
      return {
        protocolVersion: '2025-11-25',
        capabilities: { tools: {} },
        serverInfo: { name: 'recording', version: '1' },
      };
    case 'tools/list':
      return { tools };
    case 'tools/call':
      if (message.params?.name === 'fail')
        return { content: [{ type: 'text', text: 'failed' }], isError: true };
      return {
        content: [
          {
            type: 'text',
            text: `called ${message.params?.name} ${JSON.stringify(message.params?.arguments ?? {})}`,
          },
        ],
      };
    default:
      return {};
  }
}

/** As the bridge's portal answers (`/mcp?servers=a,b`): each listed server's tools under `<server>__<tool>`. */
function answerAt(path: string, message: Parameters<typeof answer>[0]) {
  const servers = new URL(path, 'http://upstream').searchParams.get('servers');
  if (servers === null || message.method !== 'tools/list') return answer(message);
  return { tools: servers.split(',').flatMap((s) => tools.map((t) => ({ ...t, name: `${s}__${t.name}` }))) };
}

export default async function setup(project: TestProject) {
  // One log per scope: test files run in parallel, each under /scope/<its id>/ (helpers.ts).
  const logs = new Map<string, Recorded[]>();
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const other = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const scoped = /^\/scope\/([\w-]+)(\/.*)$/.exec(req.url ?? '/');
    const path = scoped?.[2] ?? req.url ?? '/';
    const recorded = logs.get(scoped?.[1] ?? '') ?? [];
    logs.set(scoped?.[1] ?? '', recorded);
    if (path === '/__log')
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(recorded));
    if (path === '/__reset') {
      recorded.length = 0;
      return res.writeHead(204).end();
    }
    if (path === '/jwks.json')
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    recorded.push({ method: req.method ?? '', path, headers: req.headers, body });
    const session = req.headers['mcp-session-id'];
    if ((req.method === 'GET' || req.method === 'DELETE') && session !== undefined && session !== 'rec.1') {
      // As the bridge answers a session it does not know.
      const error = { jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } };
      return res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify(error));
    }
    if (req.method === 'DELETE') return res.writeHead(200).end();
    if (req.method === 'GET') {
      // A standing stream: keepalive comments until the client goes, at most 20 s.
      res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 'rec.1' });
      // Updates about two resources, as a server sends for subscriptions: one a policy may hide.
      for (const uri of ['demo://docs/readme.md', 'demo://docs/secret.md']) {
        const update = { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } };
        res.write(`event: message\ndata: ${JSON.stringify(update)}\n\n`);
      }
      const timer = setInterval(() => res.write(': keepalive\n\n'), 100);
      const stop = setTimeout(() => res.end(), 20_000);
      res.on('close', () => {
        clearInterval(timer);
        clearTimeout(stop);
      });
      return;
    }
    if (req.method !== 'POST') return res.writeHead(405).end();
    let message: { id?: unknown; method?: string };
    try {
      message = JSON.parse(body) as { id?: unknown; method?: string };
    } catch {
      return res.writeHead(400).end('recording upstream: not JSON');
    }
    if (message.id === undefined) return res.writeHead(202).end();
    const reply = JSON.stringify({ jsonrpc: '2.0', id: message.id, result: answerAt(path, message) });
    if (path.startsWith('/ndjson/')) {
      // As the conformance fixture answers a 2026-07-28 listen: application/json, one message a
      // line, the stream left open; here the answer, then two resource updates, one a policy hides.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${reply}\n`);
      for (const uri of ['demo://docs/secret.md', 'demo://docs/readme.md']) {
        const update = { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } };
        res.write(`${JSON.stringify(update, null, 1)}\n`);
      }
      const stop = setTimeout(() => res.end(), 20_000);
      res.on('close', () => clearTimeout(stop));
      return;
    }
    if (path.startsWith('/json/')) {
      return res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'rec.1' }).end(reply);
    }
    // SSE, written in small pieces so that events arrive split across chunks.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 'rec.1' });
    // A call of `odd-events` gets first two events that are JSON but no message, then a batch
    // whose one message is an update of a resource (its policy may hide it).
    const odd = (message as { params?: { name?: string } }).params?.name === 'odd-events';
    const hidden =
      '[{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"demo://docs/secret.md"}}]';
    const before = odd
      ? `event: message\ndata: null\n\nevent: message\ndata: 5\n\nevent: message\ndata: ${hidden}\n\n`
      : '';
    const event = `: keepalive\n\n${before}event: message\nid: 1\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"working"}}\n\nevent: message\nid: 2\ndata: ${reply}\n\n`;
    for (let i = 0; i < event.length; i += 7) {
      res.write(event.slice(i, i + 7));
      await new Promise((resolve) => setImmediate(resolve));
    }
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  project.provide('upstream', `http://127.0.0.1:${port}`);
  project.provide('oidcPrivateJwk', { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256' });
  project.provide('otherPrivateJwk', {
    ...(await exportJWK(other.privateKey)),
    kid: 'test-key',
    alg: 'RS256',
  });
  project.provide('oidcPublicJwk', jwk);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

declare module 'vitest' {
  export interface ProvidedContext {
    upstream: string;
    oidcPrivateJwk: Record<string, unknown>;
    otherPrivateJwk: Record<string, unknown>;
    oidcPublicJwk: Record<string, unknown>;
  }
}
