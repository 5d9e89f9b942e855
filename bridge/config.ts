import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeIssues } from '../shared/validation.ts';

const ServerName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and "-", at most 63 characters')
  .refine((name) => name !== 'portal', '"portal" names every server behind /mcp; choose another name');

const Headers = z.record(z.string(), z.string()).default({});

/** What a child behind a proxy or a TLS-inspecting firewall needs to reach the network; never a secret. */
export const defaultInheritedEnv = [
  'HTTPS_PROXY',
  'HTTP_PROXY',
  'NO_PROXY',
  'https_proxy',
  'http_proxy',
  'no_proxy',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
];

export const StdioTransportSchema = z
  .object({
    type: z.literal('stdio'),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    env: z
      .record(z.string(), z.string())
      .default({})
      .describe('Set for the child; besides these only PATH, HOME, USER, ... and inheritEnv reach it'),
    inheritEnv: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'))
      .max(100)
      .default(defaultInheritedEnv)
      .describe(
        "The bridge's own variables the child gets (when set); default: proxy and CA settings. Never list secrets.",
      ),
    cwd: z
      .string()
      .optional()
      .describe('Working directory, relative to the config file (default: its folder)'),
  })
  .strict();

export const HttpTransportSchema = z
  .object({ type: z.literal('streamable-http'), url: z.url(), headers: Headers })
  .strict();

export const SseTransportSchema = z
  .object({ type: z.literal('sse'), url: z.url(), headers: Headers })
  .strict();

export const TransportSchema = z.discriminatedUnion('type', [
  StdioTransportSchema,
  HttpTransportSchema,
  SseTransportSchema,
]);

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');

/** How a stdio child gets its person's token: at its start, through files the bridge keeps fresh. */
export const StdioDeliverySchema = z
  .object({
    tokenFileEnv: EnvName.optional().describe(
      'This variable names a file holding the token, rewritten before it expires',
    ),
    tokenEnv: EnvName.optional().describe(
      'This variable holds the token as of the child’s start (not renewed: prefer tokenFileEnv)',
    ),
    kubeconfig: z
      .object({
        env: EnvName.default('KUBECONFIG'),
        server: z.url().describe("The cluster's API server"),
        certificateAuthority: z.string().optional().describe("A file with the API server's CA certificate"),
      })
      .strict()
      .optional()
      .describe('A kubeconfig with the token, rewritten before it expires; the variable names its file'),
  })
  .strict()
  .prefault({ tokenFileEnv: 'MCP_UPSTREAM_TOKEN_FILE' })
  .describe('How a stdio child gets the token: at its start, through files the bridge keeps fresh');

export type StdioDelivery = z.output<typeof StdioDeliverySchema>;

/**
 * Whose credential the server gets (docs/upstream-identity.md): the bridge's own (`service`), or
 * each person's: exchanged at the organisation's identity provider for the edge's assertion of
 * them (`token-exchange`; the client secret is read from the bridge's environment), or the
 * token of the account they connected at the edge, which forwards it sealed (`per-user-oauth`).
 */
export const IdentitySchema = z
  .discriminatedUnion('mode', [
    z.object({ mode: z.literal('service') }).strict(),
    z
      .object({
        mode: z.literal('token-exchange'),
        tokenEndpoint: z.url().describe("The identity provider's token endpoint"),
        grant: z
          .enum(['token-exchange', 'jwt-bearer'])
          .default('token-exchange')
          .describe('RFC 8693 token exchange, or the RFC 7523 JWT bearer grant'),
        clientId: z.string().min(1).max(256),
        clientSecretEnv: EnvName.describe("The bridge's environment variable holding the client secret"),
        audience: z.string().min(1).max(2048).optional().describe('The token asked for is for this audience'),
        resource: z.url().optional().describe('RFC 8707 resource of the token asked for'),
        scopes: z
          .array(
            z
              .string()
              .regex(/^[!#-[\]-~]+$/, 'a scope token (RFC 6749: printable ASCII but space, " and \\)'),
          )
          .max(50)
          .default([]),
        renewBeforeSeconds: z
          .number()
          .min(0)
          .max(3600)
          .default(30)
          .describe('A token this close to its expiry is renewed before the next request uses it'),
        stdio: StdioDeliverySchema,
      })
      .strict(),
    z
      .object({
        mode: z.literal('per-user-oauth'),
        stdio: StdioDeliverySchema,
      })
      .strict()
      .describe("Each person's own token from the account they connected at the edge, forwarded sealed"),
  ])
  .prefault({ mode: 'service' });

export const LimitsSchema = z
  .object({
    maxBodyBytes: z
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(4 * 1024 * 1024),
    maxLineBytes: z
      .int()
      .min(1024)
      .max(256 * 1024 * 1024)
      .default(16 * 1024 * 1024),
    maxSessions: z.int().min(1).max(100_000).default(256),
    requestTimeoutSeconds: z.number().positive().max(3600).default(120),
    idleTimeoutSeconds: z.number().positive().max(86_400).default(900),
    unusedSessionSeconds: z
      .number()
      .positive()
      .max(86_400)
      .default(60)
      .describe(
        'A session whose client sent nothing after initialize ends this soon (its child goes with it); idleTimeoutSeconds applies once it is used',
      ),
    livenessSeconds: z
      .number()
      .positive()
      .max(3600)
      .default(15)
      .describe(
        'A stdio child silent this long while requests wait gets a ping; no answer within as long again: it is wedged, ended, and its sessions told',
      ),
    toolTimeoutSeconds: z
      .record(z.string().min(1).max(128), z.number().positive().max(3600))
      .default({})
      .describe('A bound of its own for some tools, by their real name (e.g. a slow build, a quick lookup)'),
  })
  .strict();

export type Limits = z.output<typeof LimitsSchema>;

/** The bound on one request: the tool's own for a `tools/call` that has one, else the server's. */
export function timeoutSeconds(limits: Limits, method: string, name: string | undefined): number {
  const own =
    method === 'tools/call' && name !== undefined && Object.hasOwn(limits.toolTimeoutSeconds, name)
      ? limits.toolTimeoutSeconds[name]
      : undefined;
  return own ?? limits.requestTimeoutSeconds;
}

export const ServerSchema = z
  .object({
    name: ServerName,
    transport: TransportSchema,
    sessions: z
      .enum(['isolated', 'shared'])
      .default('isolated')
      .describe(
        'isolated: a child per MCP session, and each 2026-07-28 child serves one person only; shared: the server keeps nothing per client, so sessions share one child and any child serves anyone',
      ),
    pool: z
      .int()
      .min(0)
      .max(64)
      .default(2)
      .describe('stdio children started ahead of demand (isolated mode)'),
    poolIdleSeconds: z
      .number()
      .min(0)
      .max(86_400)
      .default(300)
      .describe(
        'seconds without a new session after which the warm pool lets its children go (0: never); the next session fills it again',
      ),
    limits: LimitsSchema.prefault({}),
    identity: IdentitySchema,
  })
  .strict()
  .superRefine((server, ctx) => {
    if (server.identity.mode !== 'service' && server.sessions === 'shared') {
      ctx.addIssue({
        code: 'custom',
        path: ['identity', 'mode'],
        message:
          'sessions: shared serves everyone from one upstream, which can hold no one person’s credential; use sessions: isolated',
      });
    }
  });

const Endpoint = (port: number) =>
  z
    .object({ host: z.string().default('127.0.0.1'), port: z.int().min(0).max(65_535).default(port) })
    .strict()
    .prefault({});

const HostName = z.union([
  z.literal('*'),
  z.string().regex(/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/, 'a host name without port, or "*"'),
]);

const Listen = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.int().min(0).max(65_535).default(8080),
    allowedHosts: z
      .array(HostName)
      .optional()
      .describe(
        'Host header names served (DNS rebinding protection); default: loopback names on a loopback address, else "*"',
      ),
    allowedOrigins: z
      .array(z.url())
      .default([])
      .describe('Browser origins allowed to call the MCP endpoints'),
  })
  .strict()
  .prefault({});

export const BridgeConfigSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1),
    instance: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,63}$/)
      .optional()
      .describe('Names this bridge in session ids'),
    listen: Listen,
    peers: z
      .object({
        url: z
          .string()
          .regex(/^https?:\/\/[^/]*\{instance\}[^/]*$/, 'like http://{instance}.mcp-bridge-peers:8080')
          .optional()
          .describe(
            "Another instance's base URL, {instance} standing for its name (StatefulSet: the pod name)",
          ),
        instances: z
          .record(z.string().regex(/^[A-Za-z0-9-]{1,63}$/), z.url())
          .optional()
          .describe('Or a fixed list: instance name → base URL'),
      })
      .strict()
      .refine((p) => (p.url === undefined) !== (p.instances === undefined), 'give either url or instances')
      .optional()
      .describe("Pass requests for another instance's session to it (several replicas behind one Service)"),
    edge: z
      .object({
        signatures: z
          .enum(['required', 'off'])
          .optional()
          .describe('Refuse requests not signed by the edge; default: required unless listening on loopback'),
        secretEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]*$/)
          .default('BRIDGE_SIGNING_SECRET'),
      })
      .strict()
      .prefault({}),
    metrics: Endpoint(9464),
    edgeAnalytics: z
      .object({
        accountIdEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]*$/)
          .default('CLOUDFLARE_ACCOUNT_ID'),
        apiTokenEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]*$/)
          .default('CLOUDFLARE_API_TOKEN'),
        apiBaseUrl: z.url().default('https://api.cloudflare.com/client/v4'),
        dataset: z
          .string()
          .regex(/^[a-z_][a-z0-9_]*$/)
          .default('mcp_gateway'),
        intervalSeconds: z.number().min(1).max(3600).default(60),
        windowMinutes: z.int().min(1).max(1440).default(5),
      })
      .strict()
      .optional()
      .describe("Export the edge's refused tool calls (Analytics Engine) as mcp_edge_refused_tool_calls"),
    drainSeconds: z.number().min(0).max(600).default(10),
    memory: z
      .object({
        limitBytes: z
          .int()
          .min(64 * 2 ** 20)
          .optional()
          .describe("The most the bridge and its children may use; default: the container's cgroup limit"),
        admitBelow: z
          .number()
          .min(0.1)
          .max(1)
          .default(0.85)
          .describe(
            'A new stdio child is admitted while measured use plus one child stays below this share of the limit',
          ),
        childEstimateBytes: z
          .int()
          .min(2 ** 20)
          .default(96 * 2 ** 20)
          .describe('What one stdio child is taken to use until the bridge has measured its own'),
      })
      .strict()
      .prefault({})
      .describe('Admission by memory: 503 with Retry-After before the pod is OOM-killed'),
    servers: z.array(ServerSchema).min(1),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.servers.forEach((server, i) => {
      if (seen.has(server.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['servers', i, 'name'],
          message: `duplicate server name "${server.name}"`,
        });
      }
      seen.add(server.name);
    });
  });

export type BridgeConfig = z.output<typeof BridgeConfigSchema>;
export type ServerConfig = BridgeConfig['servers'][number];
/** What a session needs of its server's configuration: a configured server's, or a portal's. */
export type SessionConfig = Pick<ServerConfig, 'name' | 'limits'> & { transport: { type: string } };
export type TransportConfig = ServerConfig['transport'];

export class ConfigError extends Error {
  readonly source: string;
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`${source}: invalid bridge configuration\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.source = source;
    this.problems = problems;
  }
}

export function parseConfig(input: unknown, source = 'config'): BridgeConfig {
  const result = BridgeConfigSchema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(source, describeIssues(result.error));
}

export async function loadConfig(file: string): Promise<BridgeConfig> {
  const text = await readFile(file, 'utf8');
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError(file, [`not valid YAML or JSON: ${(error as Error).message}`]);
  }
  const config = parseConfig(document, file);
  for (const server of config.servers) {
    if (server.transport.type === 'stdio')
      server.transport.cwd = resolve(dirname(file), server.transport.cwd ?? '.');
  }
  return config;
}

export function configJsonSchema(): unknown {
  return z.toJSONSchema(BridgeConfigSchema, { io: 'input', unrepresentable: 'any' });
}
