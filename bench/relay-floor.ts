/**
 * The yardstick with a child: the least a gateway that puts one stdio MCP server behind HTTP
 * can take. Each POSTed message goes to the server as a line, its id swapped for one unique on
 * the child; the server's answer goes back as JSON with the client's id. No checks, no policy,
 * no metrics, no SSE, no session of its own: the first `initialize` reaches the child, later
 * ones get its answer. `bench/floor-server.ts` is the floor without a child.
 * Usage: node bench/relay-floor.ts <port> <command> [args…]
 */
import { spawn } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import { createInterface } from 'node:readline';

type Message = { id?: string | number; method?: string; result?: unknown };
const [port, command, ...args] = process.argv.slice(2);
if (port === undefined || command === undefined)
  throw new Error('usage: relay-floor.ts <port> <command> [args…]');
const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
const waiting = new Map<number, (answer: Message) => void>();
let next = 0;
let initialized: Promise<Message> | undefined;
let toldInitialized = false;

createInterface({ input: child.stdout }).on('line', (line) => {
  const message = JSON.parse(line) as Message;
  if (typeof message.id !== 'number' || message.method !== undefined) return;
  waiting.get(message.id)?.(message);
  waiting.delete(message.id);
});

function ask(message: Message): Promise<Message> {
  const id = next++;
  child.stdin.write(`${JSON.stringify({ ...message, id })}\n`);
  return new Promise((resolve) => waiting.set(id, resolve));
}

function answer(response: ServerResponse, message: Message, id: Message['id']): void {
  const headers = { 'content-type': 'application/json', 'mcp-session-id': 'relay' };
  response.writeHead(200, headers).end(JSON.stringify({ ...message, id }));
}

async function relay(response: ServerResponse, message: Message): Promise<void> {
  if (message.id === undefined) {
    if (message.method !== 'notifications/initialized' || !toldInitialized)
      child.stdin.write(`${JSON.stringify(message)}\n`);
    toldInitialized ||= message.method === 'notifications/initialized';
    response.writeHead(202).end();
    return;
  }
  if (message.method === 'initialize') {
    initialized ??= ask(message);
    answer(response, await initialized, message.id);
    return;
  }
  answer(response, await ask(message), message.id);
}

createServer((request, response) => {
  if (request.method === 'GET') return void response.writeHead(405).end();
  if (request.method === 'DELETE') return void response.writeHead(200).end();
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on(
    'end',
    () => void relay(response, JSON.parse(Buffer.concat(chunks).toString('utf8')) as Message),
  );
}).listen(Number(port), '127.0.0.1', () => console.log('relay floor listening'));
