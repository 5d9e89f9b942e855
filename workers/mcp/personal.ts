import type { PerUserOAuth, ServerDocument } from '../../shared/policy/document.ts';
import { type Refusal, refusalResponse } from '../../shared/protocol/refusal.ts';
import { credentialHeader, sealCredential } from '../../shared/security/forwarded-credential.ts';
import { assertionHeader } from '../../shared/security/signing.ts';
import { assertionSettings, connectSettings } from '../env.ts';
import { assertionFor } from '../identity/assertion.ts';
import { connectPaths } from '../identity/connect.ts';
import { usableConnection } from '../identity/connected.ts';
import { connectionStore } from '../identity/connections.ts';
import { UnconfiguredError } from '../identity/upstream-oauth.ts';
import { finish, misconfigured } from './meter.ts';
import type { Forwarded, McpRequest, Passage } from './passage.ts';

type Header = [string, string];

/** Why this edge cannot act as the caller: the operator's fix, for the log. */
class Unconfigured {
  readonly fix: string;
  constructor(fix: string) {
    this.fix = fix;
  }
}

/**
 * What a request for servers that act as the caller carries to the bridge, one header per
 * such server (docs/upstream-identity.md): for `token-exchange`, the edge's assertion of the
 * caller, which the bridge trades at the identity provider; for `per-user-oauth`, the person's
 * own token from their connected account, renewed first if due, sealed to this signed request.
 * Without what it takes, the request is refused: a server must never act as someone else.
 */
export async function personalHeaders(
  x: McpRequest,
  passage: Passage,
  signed: Headers,
  gate: Forwarded | undefined,
): Promise<Header[] | Response> {
  // Set by the gate, so for a message only: a standing GET stream or a DELETE acts as no one.
  const docs = passage.personal ?? [];
  const headers: Header[] = [];
  for (const doc of docs) {
    const header = await headerFor(x, passage, doc, signed).catch((error: unknown) => {
      if (error instanceof UnconfiguredError) return new Unconfigured(error.message);
      throw error;
    });
    if (header instanceof Unconfigured) {
      const details = { server: doc.name, mode: doc.identity.mode, fix: header.fix };
      return misconfigured(x, passage, 'identity.unconfigured', details);
    }
    // A portal's list goes to every member: one the person has not connected is left out, not the list.
    const asked = doc.name === passage.doc.name;
    if ('kind' in header) {
      if (!asked) continue;
      passage.record.decision = header.kind;
      finish(x, passage, 'refused', 0);
      return refusalResponse(header, gate !== undefined && 'id' in gate.message ? gate.message.id : null);
    }
    headers.push(header);
  }
  return headers;
}

async function headerFor(
  x: McpRequest,
  passage: Passage,
  doc: ServerDocument,
  signed: Headers,
): Promise<Header | Refusal | Unconfigured> {
  const identity = doc.identity;
  if (identity.mode === 'per-user-oauth') return connectedToken(x, passage, doc.name, identity, signed);
  const settings = assertionSettings(x.settings, new URL(x.request.url).origin);
  if (settings === undefined) {
    return new Unconfigured(
      'set ASSERTION_SIGNING_KEY (wrangler secret put) and ASSERTION_AUDIENCE (docs/upstream-identity.md)',
    );
  }
  return [assertionHeader(doc.name), await assertionFor(settings, passage.principal, doc.name)];
}

async function connectedToken(
  x: McpRequest,
  passage: Passage,
  server: string,
  config: PerUserOAuth,
  signed: Headers,
): Promise<Header | Refusal | Unconfigured> {
  const settings = connectSettings(x.settings);
  if ('fix' in settings) return new Unconfigured(settings.fix);
  const store = connectionStore(x.env.GATEWAY_KV, settings.UPSTREAM_TOKEN_KEY);
  const subject = passage.principal.subject;
  const connection = await usableConnection(store, config, x.env, server, subject);
  const url = `${new URL(x.request.url).origin}${connectPaths.page(server)}`;
  if (connection === 'not_connected' || connection === 'no_longer_honoured') {
    return { kind: 'connect_required', server, url, again: connection === 'no_longer_honoured' };
  }
  if (connection === 'unreachable') {
    const detail = 'its authorization server could not be reached to renew your token; try again in a minute';
    return { kind: 'identity_refused', server, detail };
  }
  const credential = {
    token: connection.accessToken,
    ...(connection.expiresAt === undefined ? {} : { expiresAt: Math.floor(connection.expiresAt / 1000) }),
    connect: url,
  };
  const sealed = await sealCredential(
    settings.BRIDGE_SIGNING_SECRET,
    server,
    Object.fromEntries(signed),
    credential,
  );
  return [credentialHeader(server), sealed];
}
