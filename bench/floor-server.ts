/**
 * The yardstick under every HTTP target of `npm run bench`: a process that answers the MCP
 * client at once with canned JSON (initialize, the echo tool's list and calls), spawns nothing
 * and checks nothing. What the same client measures against it is the least any gateway can
 * take: the client's own work, HTTP on loopback, and scheduling on this machine.
 * Usage: node bench/floor-server.ts <port>
 */
import { createServer, type ServerResponse } from 'node:http';

const echoTool = {
  name: 'echo',
  description: 'Echoes back the input',
  inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
};

function resultFor(method: string, params: { arguments?: { message?: unknown } } | undefined) {
  if (method === 'initialize') {
    return {
      protocolVersion: '2025-11-25',
      capabilities: { tools: {} },
      serverInfo: { name: 'bench-floor', version: '1.0.0' },
    };
  }
  if (method === 'tools/list') return { tools: [echoTool] };
  if (method === 'tools/call') {
    return { content: [{ type: 'text', text: `Echo: ${String(params?.arguments?.message)}` }] };
  }
  return {};
}

function answer(response: ServerResponse, body: string): void {
  const message = JSON.parse(body) as { id?: unknown; method: string; params?: never };
  if (message.id === undefined) {
    response.writeHead(202).end();
    return;
  }
  const headers = { 'content-type': 'application/json', 'mcp-session-id': 'floor' };
  const result = resultFor(message.method, message.params);
  response.writeHead(200, headers).end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
}

const server = createServer((request, response) => {
  if (request.method === 'GET') return void response.writeHead(405).end();
  if (request.method === 'DELETE') return void response.writeHead(200).end();
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => answer(response, Buffer.concat(chunks).toString('utf8')));
});
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('floor server listening'));
