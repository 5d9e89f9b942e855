import { z } from 'zod';
import { describeIssues } from '../shared/validation.ts';

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
  /** A Workers VPC service binding to the bridge Service, through the cluster's tunnel. */
  BRIDGE?: Fetcher;
  /** A Cloudflare Access service token, for a tunnel public hostname behind Access. */
  ACCESS_CLIENT_ID?: string;
  ACCESS_CLIENT_SECRET?: string;
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

const SettingsSchema = z.object({
  BRIDGE_SIGNING_SECRET: z
    .string()
    .min(32, 'set with `wrangler secret put BRIDGE_SIGNING_SECRET` (>= 32 characters)'),
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
  return { ok: true, settings: parsed.data };
}
