import { z } from 'zod';

/**
 * The Workers KV layout, shared by the Worker that reads it and the tools that write it.
 * Written down in docs/storage.md.
 */

/** The server document of one MCP server (JSON, shared/document.ts). */
export function documentKey(server: string): string {
  return `server:${server}`;
}

/** The tools a server last listed (unfiltered), kept by the edge so the catalog can show them. */
export function toolsKey(server: string): string {
  return `tools:${server}`;
}

export const ToolSnapshotSchema = z.object({
  at: z.string(),
  tools: z.array(z.object({ name: z.string(), description: z.string().optional() })).max(5000),
});

export type ToolSnapshot = z.output<typeof ToolSnapshotSchema>;

/** An API key's record, under the SHA-256 (hex) of the key: the key itself is never stored. */
export function apiKeyKey(hashHex: string): string {
  return `apikey:${hashHex}`;
}

export const ApiKeyRecordSchema = z
  .object({
    principal: z.string().min(1).max(256),
    groups: z.array(z.string().min(1).max(256)).max(256).default([]),
    createdAt: z.string().optional(),
    expiresAt: z.iso.datetime().optional(),
    revoked: z.boolean().default(false),
  })
  .strict();

export type ApiKeyRecord = z.output<typeof ApiKeyRecordSchema>;
