import { listShapes } from '../../shared/policy/list-text.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import type { Naming } from '../../shared/portal/names.ts';
import { addressed, listField, namespacedList, namespacedUpdate } from '../../shared/portal/rewrite.ts';
import {
  isFailure,
  type JSONRPCMessage,
  modernClientRequestMethods,
  paramsOf,
  type RequestId,
  resultOf,
} from '../../shared/protocol/jsonrpc.ts';
import { errorOf, type Refusal } from '../../shared/protocol/refusal.ts';
import { encodeHeaderValue, metaKeys, modernRevision } from '../../shared/protocol/revision.ts';
import { sseFilter } from '../../shared/protocol/sse.ts';
import type { Outcome, ServerEndpoint } from '../endpoint.ts';
import { honoredFilters } from '../stateless/listen.ts';
import { EventStream, jsonAnswer } from '../stateless/writer.ts';
import { portalInfo, portalInstructions } from './channel.ts';

type Request = JSONRPCMessage & { id: RequestId; method: string };

const maxPages = 20;

/**
 * A portal's 2026-07-28 requests, which bring no session: one that names a tool, prompt or
 * resource goes to its member's own endpoint under the member's own name (its answer, and a
 * retry with `requestState`, name the same tool, so they find the same member); a list or
 * `server/discover` asks every member and merges what comes back.
 */
export class PortalStateless {
  private readonly endpoints: ReadonlyMap<string, ServerEndpoint>;

  constructor(endpoints: ReadonlyMap<string, ServerEndpoint>) {
    this.endpoints = endpoints;
  }

  async handle(
    http: globalThis.Request,
    message: Request,
    principal: Principal | undefined,
    members: ReadonlySet<string>,
    naming: Naming,
  ): Promise<Outcome> {
    const { id, method } = message;
    const refuse = (refusal: Refusal): Outcome => ({ ok: true, response: ok(errorOf(refusal, id)) });
    if (!modernClientRequestMethods.has(method)) {
      return refuse({ kind: 'unknown_method', method, stateless: true });
    }
    const reachable = [...members].filter((name) => this.endpoints.has(name));
    if (method === 'subscriptions/listen')
      return { ok: true, response: await this.listen(http, message, reachable, principal, naming) };
    if (method === 'server/discover')
      return { ok: true, response: ok(await this.discover(http, message, reachable, principal)) };
    if (method in listShapes)
      return { ok: true, response: ok(await this.gather(http, message, reachable, principal, naming)) };
    const address = addressed(naming, message);
    const endpoint =
      address.to === 'member' && members.has(address.member) ? this.endpoints.get(address.member) : undefined;
    if (address.to !== 'member' || endpoint === undefined) {
      const asked = address.to === 'all' ? method : address.asked;
      return refuse({ kind: 'invalid_params', detail: `${asked} is no name of this portal's servers` });
    }
    return endpoint.handle(memberRequest(http, address.message, address.name), address.message, principal);
  }

  /** Every member's list, merged under the portal's names; a member that cannot answer is left out. */
  private async gather(
    http: globalThis.Request,
    message: Request,
    members: string[],
    principal: Principal | undefined,
    naming: Naming,
  ): Promise<JSONRPCMessage> {
    const parts = await Promise.all(
      members.map((name) => this.pages(http, message, name, principal, naming)),
    );
    const result = {
      [listField(message.method)]: parts.flat(),
      resultType: 'complete',
      cacheScope: 'private',
      ttlMs: 0,
    };
    return { jsonrpc: '2.0', id: message.id, result } as JSONRPCMessage;
  }

  private async pages(
    http: globalThis.Request,
    message: Request,
    member: string,
    principal: Principal | undefined,
    naming: Naming,
  ): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let cursor: unknown;
    for (let page = 0; page < maxPages; page++) {
      // The client's own cursor (if any) is no member's: each member's pages are followed here.
      const params = { ...paramsOf(message), cursor };
      const result = await this.ask(http, { ...message, params } as Request, member, principal);
      if (result === undefined) break;
      items.push(...namespacedList(naming, member, message.method, result));
      cursor = result.nextCursor;
      if (typeof cursor !== 'string') break;
    }
    return items;
  }

  /** One member's `server/discover`, merged: what any member offers, the portal's own name. */
  private async discover(
    http: globalThis.Request,
    message: Request,
    members: string[],
    principal: Principal | undefined,
  ): Promise<JSONRPCMessage> {
    const results = await Promise.all(members.map((name) => this.ask(http, message, name, principal)));
    const capabilities: Record<string, unknown> = {};
    for (const result of results) Object.assign(capabilities, result?.capabilities ?? {});
    const result = {
      supportedVersions: [modernRevision],
      capabilities,
      instructions: portalInstructions,
      resultType: 'complete',
      ttlMs: 0,
      cacheScope: 'private',
      _meta: { [metaKeys.serverInfo]: portalInfo },
    };
    return { jsonrpc: '2.0', id: message.id, result } as JSONRPCMessage;
  }

  /**
   * One listen stream of every member at once: each member's own listen (with the resource
   * subscriptions that are its own), merged into one stream under the portal's names, acknowledged
   * once. It ends when the client leaves, or with the members' own ends (a drain).
   */
  private async listen(
    http: globalThis.Request,
    message: Request,
    members: string[],
    principal: Principal | undefined,
    naming: Naming,
  ): Promise<Response> {
    const params = paramsOf(message) ?? {};
    const asked = (params.notifications ?? {}) as Record<string, unknown>;
    const subscribed = Array.isArray(asked.resourceSubscriptions) ? asked.resourceSubscriptions : [];
    const events = new EventStream();
    const tag = { [metaKeys.subscriptionId]: message.id };
    events.write({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { notifications: honoredFilters(asked), _meta: tag },
    } as JSONRPCMessage);
    const opened = Promise.all(
      members.map(async (member) => {
        const own = subscribed.flatMap((uri) => {
          const named = typeof uri === 'string' ? naming.ofUri(uri) : undefined;
          return named?.member === member ? [named.name] : [];
        });
        const notifications = { ...asked, resourceSubscriptions: own };
        const request = { ...message, params: { ...params, notifications } } as Request;
        const endpoint = this.endpoints.get(member);
        const outcome = await endpoint?.handle(memberRequest(http, request, undefined), request, principal);
        return outcome?.ok && outcome.response.body ? { member, body: outcome.response.body } : undefined;
      }),
    );
    // A member that failed to answer leaves no stream behind, open and unread.
    const streams = await opened.catch((error: unknown) => {
      events.end();
      throw error;
    });
    const open = streams.filter((stream) => stream !== undefined);
    let ended = 0;
    const readers = open.map(({ member, body }) => {
      const relay = (data: string) => {
        const event = parsed(data);
        if (event === undefined || event.method === 'notifications/subscriptions/acknowledged') return null;
        if (event.method === undefined) return null; // the member's own end: the portal ends once all have
        const update = namespacedUpdate(naming, member, event as JSONRPCMessage);
        const eventParams = paramsOf(update) ?? {};
        events.write({ ...update, params: { ...eventParams, _meta: tag } } as JSONRPCMessage);
        return null;
      };
      const reader = body.pipeThrough(sseFilter(relay)).getReader();
      void (async () => {
        while (!(await reader.read().catch(() => ({ done: true }))).done) {}
        ended += 1;
        if (ended === open.length) events.end({ jsonrpc: '2.0', id: message.id, result: { _meta: tag } });
      })();
      return reader;
    });
    if (open.length === 0) events.end({ jsonrpc: '2.0', id: message.id, result: { _meta: tag } });
    events.onclose = () => {
      for (const reader of readers) void reader.cancel().catch(() => undefined);
    };
    return events.response;
  }

  /** A member's complete answer to one request, or undefined when it has none to give. */
  private async ask(
    http: globalThis.Request,
    message: Request,
    member: string,
    principal: Principal | undefined,
  ): Promise<Record<string, unknown> | undefined> {
    const endpoint = this.endpoints.get(member);
    if (endpoint === undefined) return undefined;
    const outcome = await endpoint.handle(memberRequest(http, message, undefined), message, principal);
    if (!outcome.ok) return undefined;
    const answer = await messageOf(outcome.response, message.id);
    const result = answer === undefined || isFailure(answer) ? undefined : resultOf(answer);
    return result?.resultType === 'complete' || result?.resultType === undefined ? result : undefined;
  }
}

function parsed(data: string): (Record<string, unknown> & { method?: string }) | undefined {
  try {
    return JSON.parse(data) as Record<string, unknown> & { method?: string };
  } catch {
    return undefined;
  }
}

/** The request as a member's endpoint reads it: the member's own name in body and `Mcp-Name`. */
function memberRequest(
  http: globalThis.Request,
  message: JSONRPCMessage,
  name: string | undefined,
): globalThis.Request {
  const headers = new Headers(http.headers);
  if (name === undefined) headers.delete('mcp-name');
  else headers.set('mcp-name', encodeHeaderValue(name));
  headers.delete('content-length');
  return new Request(http.url, {
    method: 'POST',
    headers,
    body: JSON.stringify(message),
    signal: http.signal,
  });
}

/** The answer to `id` in a member's response, sent as JSON or as the last of its events. */
async function messageOf(response: Response, id: RequestId): Promise<JSONRPCMessage | undefined> {
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  const candidates = type.includes('text/event-stream')
    ? text
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim())
    : [text];
  for (const candidate of candidates.reverse()) {
    try {
      const message = JSON.parse(candidate) as JSONRPCMessage & { id?: unknown };
      if (message.id === id) return message;
    } catch {
      // not a message: a comment or a partial line
    }
  }
  return undefined;
}

/** The portal's own answer: a JSON-RPC message, with HTTP 200 as the 2026-07-28 path answers. */
function ok(message: JSONRPCMessage): Response {
  return jsonAnswer({ status: 200, message });
}
