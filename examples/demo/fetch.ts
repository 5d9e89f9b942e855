#!/usr/bin/env node
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

/**
 * A Streamable HTTP MCP server with one `fetch` tool, standing in for the lab's Fetch server
 * (gofetch): the bridge reaches it as a `streamable-http` upstream. Stateless: one server
 * and transport per request.
 */
const maxBytes = 1024 * 1024;

async function fetchText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000), redirect: 'follow' });
  const reader = response.body?.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > maxBytes) {
      await reader.cancel();
      break;
    }
    chunks.push(value);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return `HTTP ${response.status} ${response.headers.get('content-type') ?? ''}\n\n${text}`;
}

function mcpServer(): McpServer {
  const server = new McpServer({ name: 'fetch', version: '1.0.0' });
  server.registerTool(
    'fetch',
    {
      title: 'Fetch a URL',
      description: 'Fetches an http(s) URL and returns its status, type and text (at most 1 MiB, 10 s)',
      inputSchema: { url: z.url({ protocol: /^https?$/ }) },
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    async ({ url }) => {
      try {
        return { content: [{ type: 'text', text: await fetchText(url) }] };
      } catch (error) {
        return {
          isError: true,
          content: [{ type: 'text', text: `fetch failed: ${(error as Error).message}` }],
        };
      }
    },
  );
  return server;
}

const { values } = parseArgs({ options: { port: { type: 'string', default: '8090' } } });
const http = createServer(async (req, res) => {
  if (req.url !== '/mcp') return res.writeHead(404).end();
  if (req.method !== 'POST') return res.writeHead(405, { allow: 'POST' }).end();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  const server = mcpServer();
  res.on('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res);
});
http.listen(Number(values.port), '127.0.0.1', () => {
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : values.port;
  console.log(JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${port}/mcp` }));
});
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => http.close(() => process.exit(0)));
