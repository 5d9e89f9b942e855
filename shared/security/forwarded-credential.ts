import { z } from 'zod';
import { seal, sealingKey, unseal } from './sealing.ts';
import { signatureHeaders } from './signing.ts';

/**
 * A person's token for a `per-user-oauth` server, on its way from the edge to the bridge
 * (docs/upstream-identity.md): sealed with a key derived from the signing secret, and bound to
 * the signed request it travels with (server, principal, nonce). Whoever sees the request on
 * the way (a tunnel, a proxy's log) cannot read it, and it opens with no other request.
 */
export function credentialHeader(server: string): string {
  return `mcp-gateway-credential-${server}`;
}

const ForwardedCredentialSchema = z
  .object({
    token: z
      .string()
      .min(1)
      .max(16 * 1024),
    /** Seconds since the epoch; absent: the authorization server gave no expiry. */
    expiresAt: z.number().int().positive().optional(),
    /** Where the person connects their account again, for a refusal's words. */
    connect: z.url(),
  })
  .strict();

export type ForwardedCredential = z.output<typeof ForwardedCredentialSchema>;

function contextOf(server: string, header: (name: string) => string | undefined): string | undefined {
  const principal = header(signatureHeaders.principal);
  const nonce = header(signatureHeaders.nonce);
  if (principal === undefined || nonce === undefined) return undefined;
  return [credentialHeader(server), principal, nonce].join('\n');
}

/** The header's value for this server on a request already signed with `signed`'s headers. */
export async function sealCredential(
  secret: string,
  server: string,
  signed: Record<string, string>,
  credential: ForwardedCredential,
): Promise<string> {
  const context = contextOf(server, (name) => signed[name]);
  if (context === undefined) throw new Error('seal a credential after signing the request');
  return seal(await sealingKey(secret, 'bridge-credential'), JSON.stringify(credential), context);
}

/** The credential this signed request carries for `server`; undefined if none, or not for this request. */
export async function openCredential(
  secret: string,
  server: string,
  header: (name: string) => string | undefined,
): Promise<ForwardedCredential | undefined> {
  const sealed = header(credentialHeader(server));
  const context = contextOf(server, header);
  if (sealed === undefined || context === undefined) return undefined;
  const text = await unseal(await sealingKey(secret, 'bridge-credential'), sealed, context);
  if (text === undefined) return undefined;
  try {
    const parsed = ForwardedCredentialSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
