import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { importJWK, type JWK, SignJWT } from 'jose';
import { inject } from 'vitest';
import { sha256Hex } from '../../shared/security/digest.ts';
import { apiKeyKey, documentKey } from '../../shared/storage/kv.ts';
import { forgetKeys } from '../../workers/auth.ts';
import { forgetDocuments } from '../../workers/documents.ts';
import type { Env } from '../../workers/env.ts';
import worker from '../../workers/index.ts';

export const origin = 'https://gateway.test';
/** The recording upstream, under a scope of this test file's own: files run in parallel. */
export const upstream = `${inject('upstream')}/scope/${crypto.randomUUID()}`;

export interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string | undefined>;
  body: string;
}

export async function recorded(): Promise<Recorded[]> {
  return (await (await fetch(`${upstream}/__log`)).json()) as Recorded[];
}

export async function resetUpstream(): Promise<void> {
  await fetch(`${upstream}/__reset`, { method: 'POST' });
}

export async function putDocument(name: string, doc: Record<string, unknown> | string): Promise<void> {
  await env.GATEWAY_KV.put(documentKey(name), typeof doc === 'string' ? doc : JSON.stringify(doc));
  forgetDocuments();
}

export async function putApiKey(key: string, record: Record<string, unknown>): Promise<void> {
  await env.GATEWAY_KV.put(apiKeyKey(await sha256Hex(key)), JSON.stringify(record));
  forgetKeys();
}

export interface Point {
  indexes?: string[];
  blobs?: (string | null)[];
  doubles?: number[];
}

/** The real Analytics Engine binding, wrapped so that a test can see the points written to it. */
export function recordingEnv(): { env: Env; points: Point[] } {
  const points: Point[] = [];
  const real = env.ANALYTICS;
  const ANALYTICS = {
    writeDataPoint(point: Point) {
      points.push(point);
      real.writeDataPoint(point as AnalyticsEngineDataPoint);
    },
  } as AnalyticsEngineDataset;
  return { env: { ...env, ANALYTICS }, points };
}

/** One request through the Worker, waiting for what it does off the response path. */
export async function call(request: Request, e: Env = env): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, e, ctx);
  const body = await response.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return new Response(response.status === 204 ? null : body, response);
}

/** The Worker's answer as it streams: for bodies that stay open (call() would wait for their end). */
export async function open(request: Request, e: Env = env): Promise<Response> {
  return worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, e, createExecutionContext());
}

export function mcp(server: string, message: unknown, headers: Record<string, string> = {}): Request {
  return new Request(`${origin}/${server}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: typeof message === 'string' ? message : JSON.stringify(message),
  });
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export async function jwt(
  claims: Record<string, unknown>,
  options: {
    key?: 'oidc' | 'other';
    alg?: string;
    expiresIn?: string;
    audience?: string;
    issuer?: string;
    kid?: string;
    notBefore?: string;
  } = {},
): Promise<string> {
  const jwk = inject(options.key === 'other' ? 'otherPrivateJwk' : 'oidcPrivateJwk') as JWK;
  const key = await importJWK(jwk, 'RS256');
  const token = new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? 'test-key' })
    .setIssuer(options.issuer ?? 'https://issuer.test/')
    .setAudience(options.audience ?? `${origin}/openshift/mcp`)
    .setSubject(String(claims.sub ?? 'carol'))
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '5m');
  if (options.notBefore !== undefined) token.setNotBefore(options.notBefore);
  return token.sign(key);
}

/** A streaming body read as text, as far as a test needs: until `until` holds, or `ms` pass. */
export function streamText(response: Response) {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const stream = {
    text: '',
    async read(until: (text: string) => boolean, ms: number): Promise<void> {
      const deadline = Date.now() + ms;
      while (!until(stream.text) && Date.now() < deadline) {
        const next = await reader.read();
        if (next.done) break;
        stream.text += decoder.decode(next.value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
  return stream;
}
