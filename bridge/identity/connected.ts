import type { Principal } from '../../shared/policy/policy.ts';
import { openCredential } from '../../shared/security/forwarded-credential.ts';
import type { ServerConfig } from '../config.ts';
import { Credential } from './credential.ts';
import { ExchangeError, type IssuedToken } from './exchange.ts';

type Connected = Extract<ServerConfig['identity'], { mode: 'per-user-oauth' }>;

/**
 * `per-user-oauth`: the token of the account the person connected at the edge, which the edge
 * keeps, renews and forwards with each request, sealed to it (docs/upstream-identity.md). The
 * bridge only opens it, checks it is the signed caller's, and hands it on: an upstream opened
 * for one person gets their newer tokens as they come, and never anyone else's.
 */
export function connectedIdentity(server: ServerConfig, config: Connected, signingSecret: string) {
  const delivery = server.transport.type === 'stdio' ? config.stdio : undefined;
  async function forwarded(request: Request, principal: Principal | undefined) {
    if (principal === undefined)
      throw new ExchangeError('no signed caller: the edge must sign requests', true);
    const header = (name: string) => request.headers.get(name) ?? undefined;
    const credential = await openCredential(signingSecret, server.name, header);
    if (credential === undefined) {
      throw new ExchangeError(
        'the edge forwarded no connected account for this server (is its document per-user-oauth too?)',
        true,
      );
    }
    const token: IssuedToken = {
      value: credential.token,
      issuedAt: Date.now(),
      expiresAt: credential.expiresAt === undefined ? Number.MAX_SAFE_INTEGER : credential.expiresAt * 1000,
    };
    return { subject: principal.subject, token, connect: credential.connect };
  }
  return {
    mode: config.mode,
    async open(request: Request, principal: Principal | undefined): Promise<Credential> {
      const { subject, token } = await forwarded(request, principal);
      return new Credential(subject, token, delivery);
    },
    async freshen(credential: Credential, request: Request, principal: Principal | undefined): Promise<void> {
      const { subject, token, connect } = await forwarded(request, principal);
      if (subject !== credential.subject)
        throw new ExchangeError('this session belongs to someone else', true);
      if (token.value !== credential.current.value) return credential.renew(token);
      // The edge still holds the token the server refused: only the person can mend that.
      if (credential.stale) {
        throw new ExchangeError(
          `the MCP server refused your connected account; connect it again at ${connect}`,
          true,
        );
      }
    },
  };
}
