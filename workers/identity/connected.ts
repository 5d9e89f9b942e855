import type { PerUserOAuth } from '../../shared/policy/document.ts';
import type { ConnectionStore } from './connections.ts';
import { type Connection, refresh, UnconfiguredError } from './upstream-oauth.ts';

/** Why a person's connection cannot serve this request; the refusal says it with the connect link. */
export type Unusable = 'not_connected' | 'no_longer_honoured' | 'unreachable';

/** Renewals in flight, by server and person: concurrent requests of one person renew once per isolate. */
const renewing = new Map<string, Promise<Connection | Unusable>>();

/**
 * The person's connection to this server, renewed first when it is due: what a request that
 * acts as them carries. A connection the authorization server no longer honours is removed,
 * so that the person is asked to connect again rather than failing at every call.
 */
export async function usableConnection(
  store: ConnectionStore,
  config: PerUserOAuth,
  env: object,
  server: string,
  subject: string,
  now = Date.now(),
): Promise<Connection | Unusable> {
  const connection = await store.load(server, subject);
  if (connection === undefined) return 'not_connected';
  if (connection.renewAt === undefined || connection.renewAt > now) return connection;
  const id = `${server}\n${subject}`;
  let renewal = renewing.get(id);
  if (renewal === undefined) {
    renewal = renew(store, config, env, server, subject, connection).finally(() => renewing.delete(id));
    renewing.set(id, renewal);
  }
  const renewed = await renewal;
  // The server cannot be reached now: a token that has not yet expired still serves.
  if (renewed === 'unreachable' && (connection.expiresAt ?? 0) > now) return connection;
  return renewed;
}

async function renew(
  store: ConnectionStore,
  config: PerUserOAuth,
  env: object,
  server: string,
  subject: string,
  connection: Connection,
): Promise<Connection | Unusable> {
  let renewed: Connection | undefined;
  try {
    renewed = await refresh(config, env, connection);
  } catch (error) {
    if (error instanceof UnconfiguredError) throw error;
    console.error(
      JSON.stringify({
        event: 'identity.renewal_failed',
        server,
        principal: subject,
        error: describe(error),
      }),
    );
    return 'unreachable';
  }
  if (renewed === undefined) {
    await store.remove(server, subject);
    console.log(JSON.stringify({ event: 'identity.connection_ended', server, principal: subject }));
    return 'no_longer_honoured';
  }
  await store.save(server, subject, renewed);
  return renewed;
}

/** An error's kind and words, cut short: never a response body, which might hold a token. */
export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 200) : 'unknown error';
}
