import type { JSONRPCMessage } from '../../shared/protocol/jsonrpc.ts';
import { metaKeys, modernHeaders, modernRevision, type Revision } from '../../shared/protocol/revision.ts';
import type { Logger } from '../log.ts';

type Modern = Extract<Revision, { era: 'modern' }>;

/** How long a probe's answer stands: a server upgraded (or rolled back) is noticed within this. */
const probeTtlMs = 5 * 60_000;
const probeTimeoutMs = 5000;
const passedHeaders = ['content-type', 'cache-control', 'retry-after'];

/**
 * A Streamable HTTP server that speaks 2026-07-28 itself gets 2026-07-28 requests as they came
 * (after the edge's policy): no child, no translation, its own input-required and listen streams.
 * Whether it does is asked once with `server/discover` and remembered for a while.
 */
export class Passthrough {
  private known: { modern: boolean; at: number } | undefined;
  private probing: Promise<boolean> | undefined;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly log: Logger;

  constructor(url: string, headers: Record<string, string>, log: Logger) {
    this.url = url;
    this.headers = headers;
    this.log = log;
  }

  speaksModern(now = Date.now()): Promise<boolean> {
    if (this.known && now - this.known.at < probeTtlMs) return Promise.resolve(this.known.modern);
    this.probing ??= this.probe().finally(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  /** The native server's answer, streamed as it comes: its status and the headers a client needs. */
  async forward(modern: Modern, params: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { ...params, ...this.requestHeaders(modern.message, modern.revision) },
      body: JSON.stringify(modern.message),
      signal,
    });
    const headers = new Headers();
    for (const name of passedHeaders) {
      const value = response.headers.get(name);
      if (value !== null) headers.set(name, value);
    }
    return new Response(response.body, { status: response.status, headers });
  }

  private requestHeaders(
    message: JSONRPCMessage & { method: string },
    revision: string,
  ): Record<string, string> {
    return {
      ...this.headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...modernHeaders(message, revision),
    };
  }

  private async probe(): Promise<boolean> {
    const message = {
      jsonrpc: '2.0' as const,
      id: 'bridge-discover',
      method: 'server/discover',
      params: {
        _meta: { [metaKeys.protocolVersion]: modernRevision, [metaKeys.clientCapabilities]: {} },
      },
    };
    let modern = false;
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: this.requestHeaders(message, modernRevision),
        body: JSON.stringify(message),
        signal: AbortSignal.timeout(probeTimeoutMs),
      });
      const text = response.ok ? await response.text() : '';
      const versions = supportedVersions(text);
      modern = versions.includes(modernRevision);
    } catch (error) {
      this.log.log('debug', 'server/discover probe failed', { error: (error as Error).message });
    }
    this.known = { modern, at: Date.now() };
    this.log.log('info', 'upstream revision', {
      revision: modern ? modernRevision : '2025-11-25 (translated)',
    });
    return modern;
  }
}

/** `supportedVersions` of a discover answer, sent as JSON or as one SSE event. */
function supportedVersions(text: string): string[] {
  const json = text.trimStart().startsWith('{') ? text : /^data: (.*)$/m.exec(text)?.[1];
  try {
    const versions = (JSON.parse(json ?? '') as { result?: { supportedVersions?: unknown } }).result
      ?.supportedVersions;
    return Array.isArray(versions) ? versions.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}
