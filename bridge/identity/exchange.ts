import { z } from 'zod';
import { readBody } from '../../shared/protocol/body.ts';
import { redact } from '../../shared/security/redact.ts';
import type { ServerConfig } from '../config.ts';

type Exchanging = Extract<ServerConfig['identity'], { mode: 'token-exchange' }>;

/** A token of one person's own for the server, and when it stops being good. */
export interface IssuedToken {
  readonly value: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** Why no token could be had: `refused` by the identity provider, or it could not be asked. */
export class ExchangeError extends Error {
  readonly refused: boolean;
  constructor(message: string, refused: boolean) {
    super(message);
    this.refused = refused;
  }
}

const TokenResponseSchema = z.object({
  access_token: z.string().min(1).max(16_384),
  token_type: z.string().regex(/^bearer$/i, 'a bearer token (RFC 6750)'),
  expires_in: z
    .number()
    .positive()
    .max(86_400 * 30)
    .optional(),
});

const ErrorResponseSchema = z.object({
  error: z.string().max(100),
  error_description: z.string().max(300).optional(),
});

const maxPeople = 10_000;
/** A token answer is a few KiB: anything past this is not one. */
const maxAnswerBytes = 64 * 1024;
const timeoutMs = 10_000;
/** A provider that gives no lifetime: used no longer than this. */
const unknownLifetimeSeconds = 60;
const grantTypes = {
  'token-exchange': 'urn:ietf:params:oauth:grant-type:token-exchange',
  'jwt-bearer': 'urn:ietf:params:oauth:grant-type:jwt-bearer',
} as const;

/**
 * One server's tokens of each person, from the identity provider: asked for with the edge's
 * assertion of them (RFC 8693, or RFC 7523), kept until shortly before they expire, asked for
 * once however many requests of the person want one at the same time.
 */
export class TokenExchange {
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly asking = new Map<string, Promise<IssuedToken>>();
  private readonly config: Exchanging;
  private readonly basic: string;
  private readonly fetcher: typeof fetch;
  private readonly now: () => number;

  constructor(
    config: Exchanging,
    clientSecret: string,
    options: { fetch?: typeof fetch; now?: () => number } = {},
  ) {
    this.config = config;
    const id = encodeURIComponent(config.clientId);
    this.basic = `Basic ${btoa(`${id}:${encodeURIComponent(clientSecret)}`)}`;
    this.fetcher = options.fetch ?? fetch;
    this.now = options.now ?? Date.now;
  }

  /**
   * Whether this person's token is good for the next request: not within renewBeforeSeconds of
   * its end, nor in the last half of its life (a short-lived token is not renewed at every request).
   */
  fresh(token: IssuedToken | undefined): token is IssuedToken {
    if (token === undefined) return false;
    const margin = Math.min(this.config.renewBeforeSeconds * 1000, (token.expiresAt - token.issuedAt) / 2);
    return token.expiresAt - margin > this.now();
  }

  /** The person's token: the kept one while fresh, else a new one for this assertion. */
  async tokenFor(subject: string, assertion: string | undefined): Promise<IssuedToken> {
    const kept = this.tokens.get(subject);
    if (this.fresh(kept)) return kept;
    const pending = this.asking.get(subject);
    if (pending !== undefined) return pending;
    if (assertion === undefined) {
      throw new ExchangeError(
        'the edge sent no assertion of you (is the document’s identity.mode token-exchange?)',
        true,
      );
    }
    const asked = this.ask(assertion).finally(() => this.asking.delete(subject));
    this.asking.set(subject, asked);
    const token = await asked;
    this.keep(subject, token);
    return token;
  }

  /** Forget a person's token, the one the server refused (a newer one, kept since, stays). */
  forget(subject: string, token: IssuedToken): void {
    if (this.tokens.get(subject)?.value === token.value) this.tokens.delete(subject);
  }

  /**
   * The request to the token endpoint. A connection that fails before any answer (a kept-alive
   * one the provider closed just then) is tried once more on a new one; a timeout is not.
   */
  private async post(form: URLSearchParams): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.fetcher(this.config.tokenEndpoint, {
          method: 'POST',
          headers: {
            authorization: this.basic,
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
          },
          body: form,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        const why = unreached(error);
        if (attempt < 2 && why !== 'TimeoutError') continue;
        throw new ExchangeError(`the identity provider could not be reached (${why})`, false);
      }
    }
  }

  private keep(subject: string, token: IssuedToken): void {
    this.tokens.delete(subject);
    if (this.tokens.size >= maxPeople) this.tokens.delete(this.tokens.keys().next().value as string);
    this.tokens.set(subject, token);
  }

  private async ask(assertion: string): Promise<IssuedToken> {
    const c = this.config;
    const form = new URLSearchParams({ grant_type: grantTypes[c.grant] });
    if (c.grant === 'token-exchange') {
      form.set('subject_token', assertion);
      form.set('subject_token_type', 'urn:ietf:params:oauth:token-type:jwt');
      form.set('requested_token_type', 'urn:ietf:params:oauth:token-type:access_token');
      if (c.audience !== undefined) form.set('audience', c.audience);
    } else form.set('assertion', assertion);
    if (c.resource !== undefined) form.set('resource', c.resource);
    if (c.scopes.length > 0) form.set('scope', c.scopes.join(' '));
    const started = this.now();
    const response = await this.post(form);
    const body = await answerOf(response);
    if (!response.ok) throw refusal(response.status, body);
    const parsed = TokenResponseSchema.safeParse(body);
    if (!parsed.success)
      throw new ExchangeError('the identity provider answered without a bearer token', false);
    const seconds = parsed.data.expires_in ?? unknownLifetimeSeconds;
    return { value: parsed.data.access_token, issuedAt: started, expiresAt: started + seconds * 1000 };
  }
}

/** The provider's JSON answer, read no further than `maxAnswerBytes`; undefined when it is not JSON. */
async function answerOf(response: Response): Promise<unknown> {
  const bytes = await readBody(response, maxAnswerBytes);
  if (bytes === undefined) {
    throw new ExchangeError(`the identity provider answered with more than ${maxAnswerBytes} bytes`, false);
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

/** Why a request never got an answer, in words that carry no part of it: `ECONNRESET`, `TimeoutError`. */
function unreached(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === 'string' ? cause.code : (error as Error).name;
}

/** The provider's own words (its error code and description), never the request's. */
function refusal(status: number, body: unknown): ExchangeError {
  const error = ErrorResponseSchema.safeParse(body);
  if (!error.success) return new ExchangeError(`the identity provider answered ${status}`, status < 500);
  const { error: code, error_description: description } = error.data;
  const words = description === undefined ? code : `${code}: ${description}`;
  return new ExchangeError(
    `the identity provider refused: ${redact(words.replace(/[^\x20-\x7e]/g, '?'))}`,
    status < 500,
  );
}
