#!/usr/bin/env node
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

/** A stdio echo server for checking the path end to end, like the ToolHive lab's Yardstick. */
const server = new McpServer({ name: 'yardstick', version: '1.0.0' });
server.registerTool(
  'echo',
  {
    title: 'Echo',
    description: 'Returns the input unchanged',
    inputSchema: { input: z.string().max(10_000).describe('Any text') },
    annotations: { readOnlyHint: true },
  },
  async ({ input }) => ({ content: [{ type: 'text', text: input }] }),
);
await server.connect(new StdioServerTransport());
