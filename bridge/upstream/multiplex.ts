import { withId } from '../../shared/protocol/json-text.ts';
import {
  type JSONRPCMessage,
  kindOf,
  paramsOf,
  progressTokenOf,
  type RequestId,
} from '../../shared/protocol/jsonrpc.ts';
import { errorOf } from '../../shared/protocol/refusal.ts';
import { bridgeCapabilities, bridgeRevision } from '../sessions/versions.ts';
import { inputMethods, noRoots } from '../stateless/translate.ts';
import type { Channel } from './channel.ts';
import { isBroadcast } from './child.ts';
import { type Hub, SharedChannel } from './shared-channel.ts';
import type { Supply } from './supply.ts';
import type { ExitReason, Upstream } from './upstream.ts';

type Origin = { readonly channel: SharedChannel; readonly id: RequestId; readonly initialize: boolean };

/**
 * Shared mode: many sessions on one upstream. Request ids and progress tokens are
 * rewritten to ones unique on the upstream and mapped back on the way out, so that
 * no answer can reach a session that did not ask. The upstream is initialized once, when
 * the first session initializes, at the bridge's own revision and capabilities; every session
 * gets that result with the revision it asked for (when the server speaks it or later; the
 * session lowers what the server sends to it), and only the questions its capabilities allow.
 * A message that is only renumbered keeps its text (`text`, where the channel has it), with
 * the new id spliced in; one rewritten otherwise is serialised again.
 */
export class Multiplexer implements Hub {
  private upstream: Promise<Upstream> | undefined;
  private initResult: Promise<JSONRPCMessage> | undefined;
  private resolveInit: ((message: JSONRPCMessage) => void) | undefined;
  private initializedSent = false;
  /** The upstream answered initialize: it works, whatever happens to it later. */
  private welcomed = false;
  private nextId = 1;
  private readonly pending = new Map<number, Origin>();
  private readonly tokens = new Map<string, { channel: SharedChannel; token: string | number }>();
  private readonly serverRequests = new Map<RequestId, SharedChannel>();
  private readonly channels = new Set<SharedChannel>();
  private readonly supply: Supply;

  constructor(supply: Supply) {
    this.supply = supply;
  }

  get sessions(): number {
    return this.channels.size;
  }

  async open(): Promise<Channel> {
    await this.connect();
    const channel = new SharedChannel(this);
    this.channels.add(channel);
    return channel;
  }

  async close(): Promise<void> {
    const upstream = this.upstream;
    this.reset();
    if (upstream) await (await upstream.catch(() => undefined))?.close();
  }

  private connect(): Promise<Upstream> {
    if (!this.upstream) {
      const started = this.supply.take();
      this.upstream = started;
      started.then(
        (upstream) => {
          upstream.onmessage = (message, text) => this.fromUpstream(message, text);
          upstream.onexit = (reason, detail) => this.exited(started, reason, detail);
        },
        () => {
          if (this.upstream === started) this.upstream = undefined;
        },
      );
    }
    return this.upstream;
  }

  private reset(): void {
    this.upstream = undefined;
    this.initResult = undefined;
    this.resolveInit = undefined;
    this.initializedSent = false;
    this.welcomed = false;
    this.pending.clear();
    this.tokens.clear();
    this.serverRequests.clear();
  }

  private exited(which: Promise<Upstream>, reason: ExitReason, detail: string): void {
    if (this.upstream !== which) return;
    // Dead before any session was welcomed: the command may be broken, and the supply backs off.
    if (reason === 'crash' && !this.welcomed) this.supply.fault(detail);
    const channels = [...this.channels];
    this.channels.clear();
    this.reset();
    for (const channel of channels) channel.onexit?.(reason, detail);
  }

  detach(channel: SharedChannel): void {
    if (!this.channels.delete(channel)) return;
    for (const [childId, origin] of this.pending) {
      if (origin.channel !== channel) continue;
      this.pending.delete(childId);
      this.bestEffort({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: childId },
      });
    }
    for (const [token, entry] of this.tokens) if (entry.channel === channel) this.tokens.delete(token);
    for (const [id, owner] of this.serverRequests) if (owner === channel) this.serverRequests.delete(id);
  }

  async fromChannel(channel: SharedChannel, message: JSONRPCMessage, text?: string): Promise<void> {
    if ('method' in message && 'id' in message) return this.request(channel, message, text);
    if ('method' in message) return this.notify(channel, message, text);
    const id = (message as { id?: RequestId }).id;
    if (id === undefined || this.serverRequests.get(id) !== channel) return; // not this session's to answer
    this.serverRequests.delete(id);
    return this.toUpstream(message, text);
  }

  private async request(
    channel: SharedChannel,
    message: JSONRPCMessage & { id: RequestId; method: string },
    text: string | undefined,
  ): Promise<void> {
    const initialize = message.method === 'initialize';
    if (initialize) channel.greeted(paramsOf(message) ?? {});
    if (initialize && this.initResult) {
      const result = await this.initResult;
      channel.welcome({ ...result, id: message.id } as JSONRPCMessage);
      return;
    }
    if (initialize) this.initResult = new Promise((resolve) => (this.resolveInit = resolve));
    const childId = this.nextId++;
    this.pending.set(childId, { channel, id: message.id, initialize });
    const token = progressTokenOf(message);
    let rewritten: JSONRPCMessage = initialize ? asBridge(message, childId) : { ...message, id: childId };
    if (token !== undefined) {
      const childToken = `mux-${childId}`;
      this.tokens.set(childToken, { channel, token });
      const params = paramsOf(message) ?? {};
      const meta = { ...(params._meta as Record<string, unknown>), progressToken: childToken };
      rewritten = { ...rewritten, params: { ...params, _meta: meta } } as JSONRPCMessage;
      return this.toUpstream(rewritten);
    }
    return this.toUpstream(rewritten, initialize || text === undefined ? undefined : withId(text, childId));
  }

  private async notify(
    channel: SharedChannel,
    message: JSONRPCMessage & { method: string },
    text: string | undefined,
  ): Promise<void> {
    if (message.method === 'notifications/initialized') {
      if (this.initializedSent) return;
      this.initializedSent = true;
    }
    if (message.method === 'notifications/cancelled') {
      const original = paramsOf(message)?.requestId;
      const childId = [...this.pending].find(([, o]) => o.channel === channel && o.id === original)?.[0];
      if (childId === undefined) return;
      this.pending.delete(childId);
      return this.toUpstream({
        ...message,
        params: { ...paramsOf(message), requestId: childId },
      } as JSONRPCMessage);
    }
    return this.toUpstream(message, text);
  }

  /** For messages nobody waits on (cancellations, refusals): a failure to send has no one to tell. */
  private bestEffort(message: JSONRPCMessage): void {
    this.toUpstream(message).catch(() => undefined);
  }

  private async toUpstream(message: JSONRPCMessage, text?: string): Promise<void> {
    const upstream = await this.connect();
    return upstream.send(message, text);
  }

  private fromUpstream(message: JSONRPCMessage, text: string | undefined): void {
    switch (kindOf(message)) {
      case 'response':
      case 'error':
        this.response(message as JSONRPCMessage & { id: number }, text);
        break;
      case 'request':
        this.serverRequest(message as JSONRPCMessage & { id: RequestId; method: string }, text);
        break;
      case 'notification':
        this.serverNotification(message as JSONRPCMessage & { method: string }, text);
        break;
    }
  }

  private response(message: JSONRPCMessage & { id: number }, text: string | undefined): void {
    const origin = this.pending.get(message.id);
    if (!origin) return;
    this.pending.delete(message.id);
    this.tokens.delete(`mux-${message.id}`);
    if (origin.initialize) {
      this.settleInit(message);
      origin.channel.welcome({ ...message, id: origin.id });
    } else origin.channel.deliver({ ...message, id: origin.id }, text && withId(text, origin.id));
  }

  private settleInit(message: JSONRPCMessage): void {
    if ('result' in message) {
      const version = (message.result as { protocolVersion?: unknown }).protocolVersion;
      if (typeof version === 'string') void this.upstream?.then((u) => u.setProtocolVersion(version));
      this.welcomed = true;
      this.supply.proven();
      this.resolveInit?.(message);
    } else {
      this.initResult = undefined;
    }
    this.resolveInit = undefined;
  }

  /** The session whose request the upstream is most likely serving: the newest one still pending. */
  private latestChannel(): SharedChannel | undefined {
    return [...this.pending.values()].at(-1)?.channel;
  }

  private serverRequest(
    message: JSONRPCMessage & { id: RequestId; method: string },
    text: string | undefined,
  ): void {
    const channel = this.latestChannel();
    if (!channel) {
      this.bestEffort(errorOf({ kind: 'no_client', detail: 'no client session to ask' }, message.id));
      return;
    }
    const needs = inputMethods[message.method];
    if (needs !== undefined && !channel.declared(needs)) {
      // The upstream was told the bridge can: this session's client cannot, so the bridge answers.
      this.bestEffort(
        needs === 'roots'
          ? noRoots(message.id)
          : errorOf({ kind: 'question_refused', detail: `the client did not declare ${needs}` }, message.id),
      );
      return;
    }
    this.serverRequests.set(message.id, channel);
    channel.deliver(message, text);
  }

  private serverNotification(message: JSONRPCMessage & { method: string }, text: string | undefined): void {
    const params = paramsOf(message);
    if (message.method === 'notifications/progress') {
      const entry = this.tokens.get(String(params?.progressToken));
      if (entry)
        entry.channel.deliver({
          ...message,
          params: { ...params, progressToken: entry.token },
        } as JSONRPCMessage);
      return;
    }
    if (message.method === 'notifications/cancelled') {
      this.serverRequests.get(params?.requestId as RequestId)?.deliver(message, text);
      return;
    }
    if (isBroadcast(message)) {
      for (const channel of this.channels) channel.deliver(message, text);
      return;
    }
    this.latestChannel()?.deliver(message, text);
  }
}

/** The first session's initialize, as the bridge's own: its revision and capabilities. */
function asBridge(message: JSONRPCMessage, id: number): JSONRPCMessage {
  const params = { ...paramsOf(message), protocolVersion: bridgeRevision, capabilities: bridgeCapabilities };
  return { ...message, id, params } as JSONRPCMessage;
}
