import { z } from 'zod';
import { describeIssues, jsonText } from '../shared/validation.ts';
import type { Approvals } from './approval/approvals.ts';
import { AssertionKeysSchema, type AssertionSettings } from './identity/assertion.ts';
import type { QuotaCounter } from './quota/counter.ts';

/** The Worker's bindings, as wrangler.toml declares them. */
export interface Env {
  GATEWAY_KV: KVNamespace;
  ANALYTICS: AnalyticsEngineDataset;
  /** Shared with the bridges (`wrangler secret put BRIDGE_SIGNING_SECRET`). */
  BRIDGE_SIGNING_SECRET?: string;
  ALLOWED_ORIGINS?: string;
  ALLOWED_HOSTS?: string;
  DOCUMENT_CACHE_SECONDS?: string;
  MAX_BODY_BYTES?: string;
  OIDC_ISSUER?: string;
  OIDC_JWKS_URL?: string;
  OIDC_GROUPS_CLAIM?: string;
  /** Where the bridge serves `/<server>/mcp`, for documents that do not name an upstream. */
  BRIDGE_URL?: string;
  /** A Workers VPC service binding to the bridge Service, through the cluster's tunnel. */
  BRIDGE?: Fetcher;
  /** A Cloudflare Access service token, for a tunnel public hostname behind Access. */
  ACCESS_CLIENT_ID?: string;
  ACCESS_CLIENT_SECRET?: string;
  /** OAuth grants, tokens and clients (docs/auth.md); written by the OAuth library only. */
  OAUTH_KV?: KVNamespace;
  SIGN_IN_ISSUER?: string;
  SIGN_IN_CLIENT_ID?: string;
  SIGN_IN_CLIENT_SECRET?: string;
  SIGN_IN_SCOPES?: string;
  SIGN_IN_PRINCIPAL_CLAIM?: string;
  SIGN_IN_GROUPS_CLAIM?: string;
  OAUTH_DYNAMIC_REGISTRATION?: string;
  OAUTH_CLIENT_METADATA_DOCUMENTS?: string;
  OAUTH_CLIENTS?: string;
  OAUTH_ACCESS_TOKEN_SECONDS?: string;
  OAUTH_PRIVATE_CLIENT_HOSTS?: string;
  /** The edge's private key for the assertions its identity provider trusts (docs/upstream-identity.md). */
  ASSERTION_SIGNING_KEY?: string;
  /** The identity provider, as the assertions' audience. */
  ASSERTION_AUDIENCE?: string;
  /** The assertions' issuer; default: the edge's own origin. */
  ASSERTION_ISSUER?: string;
  /** Counts each person's calls against their quotas (docs/server-documents.md#quotas). */
  QUOTAS?: DurableObjectNamespace<QuotaCounter>;
  /** A person's approvals of risky calls (docs/server-documents.md#confirm). */
  APPROVALS?: DurableObjectNamespace<Approvals>;
  /** Seals each person's connected upstream tokens at rest, and the connect page's cookie. */
  UPSTREAM_TOKEN_KEY?: string;
}

const list = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

const onOff = z
  .enum(['on', 'off'], { error: 'on or off' })
  .default('on')
  .transform((value) => value === 'on');

/** A client an admin registered ahead of time (the spec's first choice): a public client with PKCE. */
const PreRegisteredClientSchema = z
  .object({
    client_id: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'letters, digits, ".", "_" and "-"'),
    client_name: z.string().min(1).max(200),
    redirect_uris: z.array(z.url()).min(1).max(20),
  })
  .strict();

export type PreRegisteredClient = z.output<typeof PreRegisteredClientSchema>;

const SettingsSchema = z.object({
  BRIDGE_SIGNING_SECRET: z
    .string()
    .min(32, 'set with `wrangler secret put BRIDGE_SIGNING_SECRET` (>= 32 characters)'),
  // One place per environment says where the bridge is; documents say only which server.
  BRIDGE_URL: z.preprocess((v) => (v === '' ? undefined : v), z.url().optional()),
  ALLOWED_ORIGINS: list,
  // DNS-rebinding protection where the Host header can lie (wrangler dev on a laptop).
  ALLOWED_HOSTS: list.transform((hosts) => (hosts.length === 0 ? ['*'] : hosts)),
  DOCUMENT_CACHE_SECONDS: z.coerce.number().min(0).max(300).default(10),
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(32 * 1024 * 1024)
    .default(4 * 1024 * 1024),
  OIDC_ISSUER: z.url().optional(),
  OIDC_JWKS_URL: z.url().optional(),
  OIDC_GROUPS_CLAIM: z.string().min(1).default('groups'),
  ACCESS_CLIENT_ID: z.string().min(1).optional(),
  ACCESS_CLIENT_SECRET: z.string().min(1).optional(),
  // OAuth sign-in (docs/auth.md): on when SIGN_IN_ISSUER names the organisation's OIDC provider.
  SIGN_IN_ISSUER: z.url().optional(),
  SIGN_IN_CLIENT_ID: z.string().min(1).optional(),
  SIGN_IN_CLIENT_SECRET: z.string().min(1).optional(),
  SIGN_IN_SCOPES: z.string().default('openid profile email'),
  SIGN_IN_PRINCIPAL_CLAIM: z.string().min(1).default('sub'),
  SIGN_IN_GROUPS_CLAIM: z.string().min(1).default('groups'),
  OAUTH_DYNAMIC_REGISTRATION: onOff,
  OAUTH_CLIENT_METADATA_DOCUMENTS: onOff,
  OAUTH_CLIENTS: jsonText('a list of pre-registered clients')
    .pipe(z.array(PreRegisteredClientSchema).max(100))
    .prefault('[]'),
  OAUTH_ACCESS_TOKEN_SECONDS: z.coerce.number().int().min(60).max(86_400).default(3600),
  // Hosts a client metadata document may come from although private: local development only.
  OAUTH_PRIVATE_CLIENT_HOSTS: list,
  // Each person's own credential at an upstream (docs/upstream-identity.md).
  ASSERTION_SIGNING_KEY: AssertionKeysSchema.optional(),
  ASSERTION_AUDIENCE: z.string().min(1).max(2048).optional(),
  ASSERTION_ISSUER: z.url().optional(),
  UPSTREAM_TOKEN_KEY: z
    .string()
    .min(32, 'set with `npx mcpgw token-key | wrangler secret put UPSTREAM_TOKEN_KEY` (>= 32 characters)')
    .optional(),
});

export type Settings = z.output<typeof SettingsSchema>;

export type SettingsResult = { ok: true; settings: Settings } | { ok: false; problems: string[] };

/** Results by env object: the runtime hands the same env to every request of an isolate. */
const validated = new WeakMap<Env, SettingsResult>();

/** The Worker's configuration, validated once per isolate; a bad one fails every request closed. */
export function settingsOf(env: Env): SettingsResult {
  let result = validated.get(env);
  if (result === undefined) {
    result = validate(env);
    validated.set(env, result);
  }
  return result;
}

function validate(env: Env): SettingsResult {
  const parsed = SettingsSchema.safeParse(env);
  if (!parsed.success) return { ok: false, problems: describeIssues(parsed.error) };
  const { OIDC_ISSUER, OIDC_JWKS_URL } = parsed.data;
  if ((OIDC_ISSUER === undefined) !== (OIDC_JWKS_URL === undefined)) {
    return { ok: false, problems: ['OIDC_ISSUER and OIDC_JWKS_URL: set both or neither'] };
  }
  const { ACCESS_CLIENT_ID, ACCESS_CLIENT_SECRET } = parsed.data;
  if ((ACCESS_CLIENT_ID === undefined) !== (ACCESS_CLIENT_SECRET === undefined)) {
    return {
      ok: false,
      problems: ['ACCESS_CLIENT_ID and ACCESS_CLIENT_SECRET (wrangler secret put): set both or neither'],
    };
  }
  const signIn = signInProblem(parsed.data, env.OAUTH_KV !== undefined);
  if (signIn !== undefined) return { ok: false, problems: [signIn] };
  return { ok: true, settings: parsed.data };
}

function signInProblem(settings: z.output<typeof SettingsSchema>, hasStore: boolean): string | undefined {
  if (settings.SIGN_IN_ISSUER === undefined) return undefined;
  if (settings.SIGN_IN_CLIENT_ID === undefined) {
    return 'SIGN_IN_CLIENT_ID: the client id the gateway has at SIGN_IN_ISSUER (docs/auth.md)';
  }
  if (!hasStore) return 'SIGN_IN_ISSUER needs the OAUTH_KV namespace binding (docs/auth.md)';
  return undefined;
}

/** How this edge states who is calling, for a `token-exchange` server; undefined when it cannot. */
export function assertionSettings(settings: Settings, origin: string): AssertionSettings | undefined {
  const { ASSERTION_SIGNING_KEY: keys, ASSERTION_AUDIENCE: audience } = settings;
  if (keys === undefined || audience === undefined) return undefined;
  return { keys, audience, issuer: settings.ASSERTION_ISSUER ?? origin };
}

export type ConnectSettings = Settings & {
  SIGN_IN_ISSUER: string;
  SIGN_IN_CLIENT_ID: string;
  UPSTREAM_TOKEN_KEY: string;
};

/** What per-user-oauth needs of this edge (docs/upstream-identity.md), or the operator's fix. */
export function connectSettings(settings: Settings): ConnectSettings | { fix: string } {
  const key = settings.UPSTREAM_TOKEN_KEY;
  if (key === undefined) {
    return { fix: 'set UPSTREAM_TOKEN_KEY: npx mcpgw token-key | wrangler secret put UPSTREAM_TOKEN_KEY' };
  }
  // The connect page must know who opened it: the gateway's own sign-in says so.
  if (!signsIn(settings)) {
    return { fix: 'per-user-oauth needs the gateway’s sign-in: set SIGN_IN_ISSUER (docs/auth.md)' };
  }
  return { ...settings, UPSTREAM_TOKEN_KEY: key };
}

/** Whether this gateway signs users in and issues tokens itself. */
export function signsIn(
  settings: Settings,
): settings is Settings & { SIGN_IN_ISSUER: string; SIGN_IN_CLIENT_ID: string } {
  return settings.SIGN_IN_ISSUER !== undefined && settings.SIGN_IN_CLIENT_ID !== undefined;
}
