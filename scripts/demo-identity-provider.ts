import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';

/** Someone who can sign in at the demo provider (any password), with the groups it names. */
export interface Person {
  groups: string[];
}

export interface IdentityProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  stop(): Promise<void>;
}

/** The people `npm start` offers: one developer, one reader. */
export const demoPeople: Record<string, Person> = {
  alice: { groups: ['developers'] },
  bob: { groups: ['readers'] },
};

const minute = 60;

/**
 * An organisation's OpenID provider, for real (`oidc-provider`) but for development only: on
 * 127.0.0.1, in memory, with its built-in login page that takes any password. It knows one
 * client, the gateway, whose callbacks (sign-in, and the connect page's) are at each of `gatewayOrigins`.
 */
export async function startDemoIdentityProvider(
  gatewayOrigins: string[],
  people: Record<string, Person>,
  port = 0,
): Promise<IdentityProvider> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'mcp-gateway';
  const clientSecret = randomBytes(24).toString('base64url');
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const config: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: gatewayOrigins.flatMap((origin) => [
          `${origin}/oauth/callback`,
          `${origin}/connect-callback`,
        ]),
        token_endpoint_auth_method: 'client_secret_post',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'demo' }] },
    claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
    cookies: { keys: [randomBytes(24).toString('base64url')] },
    features: { devInteractions: { enabled: true } },
    ttl: {
      AccessToken: 10 * minute,
      AuthorizationCode: minute,
      Grant: 60 * minute,
      IdToken: 10 * minute,
      Interaction: 10 * minute,
      Session: 60 * minute,
    },
    async findAccount(_ctx, id) {
      const person = people[id];
      if (person === undefined) return undefined;
      return {
        accountId: id,
        claims: () => ({ sub: id, email: `${id}@example.com`, groups: person.groups }),
      };
    },
    // The organisation's own consent screen is skipped: the gateway asks for consent itself.
    async loadExistingGrant(ctx) {
      const accountId = ctx.oidc.session?.accountId;
      const client = ctx.oidc.client?.clientId;
      if (accountId === undefined || client === undefined) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: client, accountId });
      grant.addOIDCScope('openid email groups');
      await grant.save();
      return grant;
    },
  };
  const provider = withoutDevelopmentWarnings(() => new Provider(issuer, config));
  server.on('request', provider.callback());
  return {
    issuer,
    clientId,
    clientSecret,
    stop: () => close(server),
  };
}

/** oidc-provider warns that in-memory storage and its login page are for development: this is. */
export function withoutDevelopmentWarnings<T>(make: () => T): T {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).includes('development-only')) warn(...args);
  };
  try {
    return make();
  } finally {
    console.warn = warn;
  }
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
