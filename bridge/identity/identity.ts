import type { Principal } from '../../shared/policy/policy.ts';
import { assertionHeader } from '../../shared/security/signing.ts';
import { ConfigError, type ServerConfig } from '../config.ts';
import { connectedIdentity } from './connected.ts';
import { Credential } from './credential.ts';
import { ExchangeError, TokenExchange } from './exchange.ts';

/**
 * Whose credential one server's upstreams get (docs/upstream-identity.md). `service`: the
 * bridge's own, as configured, for everyone. `token-exchange` and `per-user-oauth`: each
 * person's own, so each upstream is opened for one person (no anonymous spares) and kept fresh
 * request by request.
 */
export interface Identity {
  readonly mode: ServerConfig['identity']['mode'];
  /** The credential a new upstream of this caller starts with; undefined in service mode. */
  open(request: Request, principal: Principal | undefined): Promise<Credential | undefined>;
  /** Before this caller's request reaches their upstream: a token that will not expire under it. */
  freshen(credential: Credential, request: Request, principal: Principal | undefined): Promise<void>;
}

export const serviceIdentity: Identity = {
  mode: 'service',
  open: async () => undefined,
  freshen: async () => {},
};

export function identityFor(
  server: ServerConfig,
  env: NodeJS.ProcessEnv,
  options: { fetch?: typeof fetch; signingSecret?: string } = {},
): Identity {
  const config = server.identity;
  if (config.mode === 'service') return serviceIdentity;
  if (config.mode === 'per-user-oauth') {
    if (options.signingSecret === undefined)
      throw new ConfigError('environment', [
        `servers.${server.name}.identity: per-user-oauth needs the edge signing secret`,
      ]);
    return connectedIdentity(server, config, options.signingSecret);
  }
  const secret = env[config.clientSecretEnv];
  if (!secret) {
    throw new ConfigError('environment', [
      `servers.${server.name}.identity: set ${config.clientSecretEnv}, the client secret the bridge has at ${config.tokenEndpoint}`,
    ]);
  }
  const exchange = new TokenExchange(config, secret, options);
  const delivery = server.transport.type === 'stdio' ? config.stdio : undefined;
  return {
    mode: config.mode,
    async open(request, principal) {
      const subject = subjectOf(request, principal, server.name);
      const token = await exchange.tokenFor(subject, assertionOf(request, server.name));
      return new Credential(subject, token, delivery);
    },
    async freshen(credential, request, principal) {
      if (!credential.stale && exchange.fresh(credential.current)) return;
      // The same person only: an upstream opened for one person never gets another's token.
      const subject = subjectOf(request, principal, server.name);
      if (subject !== credential.subject)
        throw new ExchangeError('this session belongs to someone else', true);
      // A token the server refused is no one's to keep: the next one is asked for anew.
      if (credential.stale) exchange.forget(subject, credential.current);
      credential.renew(await exchange.tokenFor(subject, assertionOf(request, server.name)));
    },
  };
}

/** One caller of one request, for a child that must be theirs: opened with their credential, or kept fresh. */
export interface Person {
  open(): Promise<Credential>;
  freshen(credential: Credential): Promise<void>;
}

/** The caller of this request as a `Person`, for a server that acts as each person; else undefined. */
export function personOf(
  identity: Identity,
  request: Request,
  principal: Principal | undefined,
): Person | undefined {
  if (identity.mode === 'service') return undefined;
  return {
    open: async () => {
      const credential = await identity.open(request, principal);
      if (credential === undefined) throw new ExchangeError('no credential of the caller', true);
      return credential;
    },
    freshen: (credential) => identity.freshen(credential, request, principal),
  };
}

function assertionOf(request: Request, server: string): string | undefined {
  return request.headers.get(assertionHeader(server)) ?? undefined;
}

/** The signed principal, which the edge's assertion must name too (the HMAC does not cover it). */
function subjectOf(request: Request, principal: Principal | undefined, server: string): string {
  if (principal === undefined) throw new ExchangeError('no signed caller: the edge must sign requests', true);
  const assertion = assertionOf(request, server);
  if (assertion !== undefined && claimedSubject(assertion) !== principal.subject) {
    throw new ExchangeError('the edge’s assertion names someone else than the signed caller', true);
  }
  return principal.subject;
}

function claimedSubject(jwt: string): string | undefined {
  try {
    const payload = jwt.split('.')[1] ?? '';
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof claims.sub === 'string' ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}
