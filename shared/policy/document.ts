import { z } from 'zod';
import { ProvenanceSchema } from '../registry/provenance.ts';
import { describeIssues } from '../validation.ts';

/**
 * The server document: one per MCP server, stored in Workers KV under `server:<name>` and
 * kept as `servers/<name>.json` in git. Routing and policy for that server. Versioned.
 */

const Pattern = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces; * and ? are wildcards');

export const RuleSchema = z
  .object({
    allow: z.array(Pattern).default([]).describe('Names or globs this rule allows'),
    deny: z.array(Pattern).default([]).describe('Names or globs this rule denies; a deny anywhere wins'),
  })
  .strict();

export const GrantSchema = z
  .object({
    groups: z.array(z.string().min(1)).default([]),
    principals: z.array(z.string().min(1)).default([]),
    tools: RuleSchema.prefault({}),
    prompts: RuleSchema.optional(),
    resources: RuleSchema.optional(),
  })
  .strict()
  .refine((g) => g.groups.length + g.principals.length > 0, 'a grant names at least one group or principal');

export const OverrideSchema = z
  .object({
    name: z.string().min(1).max(128).optional().describe('The name clients see instead of the real one'),
    description: z.string().max(4096).optional().describe('Replaces the server-provided description'),
  })
  .strict();

const ScopeToken = z
  .string()
  .regex(/^[!#-[\]-~]+$/, 'a scope token (RFC 6749: printable ASCII but space, " and \\)');

/**
 * The gateway as an OAuth client of a SaaS upstream's authorization server: where a person
 * connects their account (docs/upstream-identity.md). The client secret is a Worker secret,
 * named here, never written in the document; only `UPSTREAM_OAUTH_*` names may be used, so that a
 * document cannot send the gateway's own secrets to an authorization server.
 */
const PerUserOAuthSchema = z
  .object({
    mode: z.literal('per-user-oauth'),
    issuer: z
      .url()
      .describe(
        "The authorization server's issuer; its metadata is discovered unless both endpoints are given",
      ),
    authorizationEndpoint: z.url().optional(),
    tokenEndpoint: z.url().optional(),
    revocationEndpoint: z.url().optional().describe('RFC 7009: where a disconnected token is revoked'),
    clientId: z.string().min(1).max(256),
    clientSecretEnv: z
      .string()
      .regex(/^UPSTREAM_OAUTH_[A-Z0-9_]{1,64}$/, 'a Worker secret named UPSTREAM_OAUTH_<something>')
      .optional()
      .describe('The Worker secret holding the client secret; absent: a public client (PKCE only)'),
    scopes: z.array(ScopeToken).max(50).default([]),
    resource: z.url().optional().describe('RFC 8707 resource the tokens are for'),
  })
  .strict()
  .refine(
    (o) => (o.authorizationEndpoint === undefined) === (o.tokenEndpoint === undefined),
    'give both authorizationEndpoint and tokenEndpoint, or neither (discovered from the issuer)',
  );

export const IdentitySchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('service') }).strict(),
  z.object({ mode: z.literal('token-exchange') }).strict(),
  PerUserOAuthSchema,
]);

export type PerUserOAuth = z.output<typeof PerUserOAuthSchema>;

/** Which calls a quota or a confirmation speaks to: tool patterns, and whose (none named: everyone's). */
const toolRule = {
  tools: z.array(Pattern).min(1).max(50).describe('Tool names or globs (real names, as the policy)'),
  principals: z.array(z.string().min(1)).default([]),
  groups: z.array(z.string().min(1)).default([]),
};

/**
 * How often each person may call the tools a pattern names, each tool counted on its own, in
 * fixed windows (docs/server-documents.md#quotas). Without principals and groups it applies to
 * everyone who may connect.
 */
export const QuotaSchema = z
  .object({
    ...toolRule,
    limit: z.int().min(1).max(1_000_000).describe('Calls per person and tool in each window'),
    per: z.enum(['minute', 'hour', 'day']),
  })
  .strict();

export type Quota = z.output<typeof QuotaSchema>;

/**
 * Tools whose calls the person must approve before they are forwarded: the gateway itself asks
 * them, naming the server, the tool and the arguments (docs/server-documents.md#confirm).
 * Without principals and groups it applies to everyone who may connect.
 */
export const ConfirmSchema = z.object(toolRule).strict();

export type Confirm = z.output<typeof ConfirmSchema>;

/**
 * A reviewed tool definition, as `mcpgw pin` recorded it from what the server listed: everything
 * but its name (the key) and `_meta`, and the digest of the whole, name included
 * (docs/server-documents.md#pins).
 */
export const PinSchema = z
  .object({
    digest: z
      .string()
      .regex(/^sha256:[A-Za-z0-9_-]{43}$/, 'sha256:<base64url>, as mcpgw pin writes it')
      .describe('SHA-256 of the canonical JSON of the definition with its name'),
    definition: z
      .record(z.string(), z.unknown())
      .refine((d) => !('name' in d) && !('_meta' in d), 'the definition holds neither name nor _meta')
      .describe('The reviewed definition: description, inputSchema, annotations…'),
  })
  .strict();

export const PinsSchema = z
  .object({
    unpinned: z
      .enum(['hide', 'allow'])
      .default('hide')
      .describe('What happens to a tool no pin names: hidden and refused (default), or served'),
    tools: z
      .record(z.string().min(1).max(256), PinSchema)
      .default({})
      .refine((t) => Object.keys(t).length <= 5000, 'at most 5,000 pinned tools')
      .describe('Keyed by the real tool name; a tool whose definition differs is held back'),
  })
  .strict();

export type Pin = z.output<typeof PinSchema>;

export const ServerDocumentSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    description: z.string().max(1024).default(''),
    serverVersion: z.string().min(1).max(64).default('1.0.0').describe('The version the catalog shows'),
    status: z.enum(['active', 'deprecated']).default('active'),
    public: z.boolean().default(false).describe('Listed in the catalog for anonymous readers'),
    upstream: z
      .object({
        url: z.url().describe("Deprecated: the bridge's MCP URL for this server; it overrides BRIDGE_URL"),
      })
      .strict()
      .optional()
      .describe('Deprecated: leave out; the edge reaches the bridge at BRIDGE_URL/<name>/mcp'),
    access: z
      .object({
        anonymous: z.boolean().default(false),
        principals: z.array(z.string().min(1)).default([]),
        groups: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .prefault({}),
    policy: z
      .object({
        tools: RuleSchema.prefault({}).describe('Applies to everyone who may connect'),
        prompts: RuleSchema.optional().describe('Prompt names; absent: no prompt is served (default deny)'),
        resources: RuleSchema.optional().describe(
          'Resource URI and URI-template patterns; absent: no resource is served (default deny)',
        ),
        grants: z.array(GrantSchema).default([]).describe('More rules for some groups or principals'),
        overrides: z.record(z.string(), OverrideSchema).default({}).describe('Keyed by the real tool name'),
      })
      .strict()
      .prefault({}),
    portal: z
      .object({
        members: z
          .array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/))
          .min(1)
          .max(40)
          .describe('The servers behind this portal, each by its document name'),
        toolSearch: z
          .boolean()
          .default(false)
          .describe('Clients see find_tools and call_tool instead of every tool (docs/portals.md)'),
        unprefixed: z
          .string()
          .optional()
          .describe(
            "The member whose tools, prompts and resources keep their own names here (no '<server>__'), so that this portal can replace that server's URL",
          ),
      })
      .strict()
      .optional()
      .describe(
        "A named portal: these servers behind this document's URL. Its policy narrows their tools and prompts (by portal names, <server>__<name>); each server's own document still decides",
      ),
    identity: IdentitySchema.prefault({ mode: 'service' }).describe(
      "Who the server thinks is calling: 'service' (the bridge's one credential), 'token-exchange' (each person's own, from the organisation's identity provider) or 'per-user-oauth' (each person's own account at the upstream's authorization server, connected once at the edge); docs/upstream-identity.md",
    ),
    quotas: z
      .array(QuotaSchema)
      .max(50)
      .default([])
      .describe('Calls per person and tool per minute, hour or day; over it: -32029 with retryAfterSeconds'),
    confirm: z
      .array(ConfirmSchema)
      .max(50)
      .default([])
      .describe('Calls the person approves first: the gateway asks them (elicitation) before forwarding'),
    pins: PinsSchema.optional().describe(
      'Reviewed tool definitions (mcpgw pin): a tool that drifted from its pin, or has none, is hidden and refused',
    ),
    provenance: ProvenanceSchema.optional().describe('What runs behind this name; shown in the catalog'),
    audit: z
      .object({ arguments: z.enum(['none', 'digest', 'full']).default('digest') })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((doc, ctx) => {
    if (doc.portal !== undefined) portalProblems(doc, ctx);
    if (doc.identity.mode !== 'service' && doc.access.anonymous) {
      const message = `an anonymous caller is no one the server could act as: ${doc.identity.mode} needs a signed-in caller`;
      ctx.addIssue({ code: 'custom', path: ['identity', 'mode'], message });
    }
    const exposed = new Map<string, string>();
    for (const [real, override] of Object.entries(doc.policy.overrides)) {
      const name = override.name ?? real;
      const clash = exposed.get(name);
      if (clash !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['policy', 'overrides', real, 'name'],
          message: `"${name}" is also the exposed name of "${clash}"`,
        });
      }
      exposed.set(name, real);
    }
  });

/** A portal serves its members' tools: it has no upstream, renames nothing, and lists each member once. */
function portalProblems(
  doc: {
    portal?: { members: string[]; unprefixed?: string };
    identity: { mode: string };
    quotas: unknown[];
    confirm: unknown[];
    pins?: unknown;
    upstream?: unknown;
    policy: { overrides: Record<string, unknown> };
  },
  ctx: z.RefinementCtx,
): void {
  const members = doc.portal?.members ?? [];
  if (doc.upstream !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['upstream'], message: 'a portal has no upstream: its members do' });
  }
  if (Object.keys(doc.policy.overrides).length > 0) {
    const message = "a portal renames nothing: rename a tool in its server's document";
    ctx.addIssue({ code: 'custom', path: ['policy', 'overrides'], message });
  }
  if (doc.identity.mode !== 'service') {
    const message = "a portal calls nothing itself: each member's document says whose credential it uses";
    ctx.addIssue({ code: 'custom', path: ['identity', 'mode'], message });
  }
  if (doc.quotas.length > 0) {
    const message = "a portal counts nothing itself: set quotas in each member's document";
    ctx.addIssue({ code: 'custom', path: ['quotas'], message });
  }
  if (doc.confirm.length > 0) {
    const message = "a portal calls nothing itself: ask for confirmation in each member's document";
    ctx.addIssue({ code: 'custom', path: ['confirm'], message });
  }
  if (doc.pins !== undefined) {
    const message = "a portal lists nothing itself: pin tools in each member's document";
    ctx.addIssue({ code: 'custom', path: ['pins'], message });
  }
  const unprefixed = doc.portal?.unprefixed;
  if (unprefixed !== undefined && !members.includes(unprefixed)) {
    const message = `"${unprefixed}" is not a member of this portal`;
    ctx.addIssue({ code: 'custom', path: ['portal', 'unprefixed'], message });
  }
  members.forEach((member, i) => {
    if (members.indexOf(member) !== i) {
      ctx.addIssue({
        code: 'custom',
        path: ['portal', 'members', i],
        message: `"${member}" is listed twice`,
      });
    }
  });
}

export type ServerDocument = z.output<typeof ServerDocumentSchema>;
export type Rule = z.output<typeof RuleSchema>;
export type Grant = z.output<typeof GrantSchema>;

export type DocumentResult = { ok: true; document: ServerDocument } | { ok: false; problems: string[] };

/** Parses a document from its JSON text; problems name their field path. */
export function parseDocument(input: unknown): DocumentResult {
  const result = ServerDocumentSchema.safeParse(input);
  if (result.success) return { ok: true, document: result.data };
  return {
    ok: false,
    problems: describeIssues(result.error),
  };
}
