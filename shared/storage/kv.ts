import { z } from 'zod';

/**
 * The Workers KV layout, shared by the Worker that reads it and the tools that write it.
 * Written down in docs/storage.md.
 */

/** The server document of one MCP server (JSON, shared/policy/document.ts). */
export function documentKey(server: string): string {
  return `server:${server}`;
}

/**
 * The tools a server last listed (unfiltered, whole definitions), kept by the edge: for the
 * catalog, for `mcpgw pin` and `mcpgw drift`, and for the pin check of a call in an isolate
 * that has not seen the list itself.
 */
export function toolsKey(server: string): string {
  return `tools:${server}`;
}

export const ToolSnapshotSchema = z.object({
  at: z.string(),
  tools: z.array(z.looseObject({ name: z.string(), description: z.string().optional() })).max(5000),
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

/**
 * A person who signed in through the gateway's OAuth sign-in, by principal name. Sign-in writes
 * the groups the identity provider named; admins revoke the person or remove groups here
 * (`mcpgw principals`), which the edge reads on every request made with an OAuth token.
 */
export function principalKey(subject: string): string {
  return `principal:${subject}`;
}

export const PrincipalRecordSchema = z
  .object({
    principal: z.string().min(1).max(256),
    /** The OAuth library's user id: the principal, percent-encoded (it keys grants and tokens). */
    userId: z.string().min(1).max(1024),
    groups: z.array(z.string().min(1).max(256)).max(256).default([]),
    removedGroups: z.array(z.string().min(1).max(256)).max(256).default([]),
    revoked: z.boolean().default(false),
    signedInAt: z.string().optional(),
    changedAt: z.string().optional(),
  })
  .strict();

export type PrincipalRecord = z.output<typeof PrincipalRecordSchema>;

/** The groups that count: what the identity provider said, less what an admin removed. */
export function effectiveGroups(record: PrincipalRecord): string[] {
  return record.groups.filter((group) => !record.removedGroups.includes(group));
}

/**
 * A person's connected account at a `per-user-oauth` server's authorization server: their
 * tokens, sealed with UPSTREAM_TOKEN_KEY and bound to this key (docs/upstream-identity.md).
 */
export function connectionKey(server: string, principal: string): string {
  return `${connectionPrefix(server)}${encodeURIComponent(principal)}`;
}

/** Every connection of one server, or (no server) of all. */
export function connectionPrefix(server?: string): string {
  return server === undefined ? 'connection:' : `connection:${server}:`;
}

/** Grant and token ids in OAUTH_KV contain the user id, which must not contain `:`. */
export function oauthUserId(principal: string): string {
  return encodeURIComponent(principal);
}
