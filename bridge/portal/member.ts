import type { Principal } from '../../shared/policy/policy.ts';
import { type JSONRPCMessage, notification, type RequestId } from '../../shared/protocol/jsonrpc.ts';
import { errorOf, type Refusal } from '../../shared/protocol/refusal.ts';
import { ExchangeError } from '../identity/exchange.ts';
import type { Channel } from '../upstream/channel.ts';
import { initialize } from '../upstream/handshake.ts';
import { type Ahead, type Hello, helloOf, ListedAhead } from '../upstream/primed.ts';

/** The HTTP request a portal session serves now, and its signed caller: whom a member acts as. */
export interface Asker {
  readonly request: Request;
  readonly principal: Principal | undefined;
}

/**
 * A member's channel, counted against its own limits until `release`; `refresh` keeps a person's
 * credential fresh; `ahead`: the channel was primed with the client's `initialize`, and did this ahead.
 */
export interface MemberChannel {
  channel: Channel;
  release: () => void;
  refresh?: (asker: Asker) => Promise<void>;
  ahead?: Ahead;
}

/** Where a portal's members come from: each member server's own endpoint, its limits included. */
export interface MemberSource {
  has(name: string): boolean;
  open(name: string, asker: Asker, hello?: Hello): Promise<MemberChannel>;
}

type Answer = (message: JSONRPCMessage) => void;

interface Pending {
  /** The client request this ask is (part of), to cancel it by. */
  readonly tag: RequestId | undefined;
  readonly answer: Answer;
}

/**
 * One member server of a portal session: a channel of its own, opened and initialized with the
 * client's own `initialize` on first use, its request ids the portal's to choose.
 */
export class Member {
  readonly name: string;
  onmessage?: (message: JSONRPCMessage) => void;
  onexit?: () => void;
  private channel: Channel | undefined;
  private release: (() => void) | undefined;
  private starting: Promise<Channel> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private ended = false;
  private readonly source: MemberSource;
  private readonly client: Record<string, unknown>;
  private readonly asker: () => Asker;
  private refresh: MemberChannel['refresh'];
  /** The child's answer to a `tools/list` asked ahead (a primed child), for the portal's first list. */
  private listed = new ListedAhead(undefined);

  constructor(name: string, source: MemberSource, client: Record<string, unknown>, asker: () => Asker) {
    this.name = name;
    this.source = source;
    this.client = client;
    this.asker = asker;
  }

  /** Sends a request; its answer (or the reason there is none) comes to `answer`, once. */
  ask(message: JSONRPCMessage, answer: Answer, tag?: RequestId): void {
    const id = this.nextId++;
    this.pending.set(id, { tag, answer });
    // A member that cannot start has answered every ask already (fail): settling again finds none.
    this.start()
      .then(async (channel) => {
        // A member that acts as the caller gets a fresh token before the request reaches it.
        await this.refresh?.(this.asker());
        if (this.answeredAhead(message, id)) return;
        return channel.send({ ...message, id } as JSONRPCMessage);
      })
      .catch((error: Error) => this.settle(id, this.refusalOf(error)));
  }

  /** A notification or an answer to the member's own question: only to a member already running. */
  tell(message: JSONRPCMessage): void {
    this.channel?.send(message).catch(() => undefined);
  }

  /** The client gave up on a request: the member is told, and nothing more comes of it. */
  cancel(tag: RequestId | undefined): void {
    for (const [id, pending] of this.pending) {
      if (pending.tag !== tag || tag === undefined) continue;
      this.pending.delete(id);
      this.tell(notification('notifications/cancelled', { requestId: id }));
    }
  }

  async close(): Promise<void> {
    this.ended = true;
    const channel = this.channel;
    this.channel = undefined;
    this.release?.();
    await channel?.close();
  }

  private start(): Promise<Channel> {
    this.starting ??= this.open().catch((error: Error) => {
      this.fail(
        error instanceof ExchangeError
          ? this.refusalOf(error)
          : { kind: 'upstream_unavailable', reason: `${this.name}: ${error.message}` },
      );
      throw error;
    });
    return this.starting;
  }

  private refusalOf(error: Error): Refusal {
    if (error instanceof ExchangeError && error.refused) {
      return { kind: 'identity_refused', server: this.name, detail: error.message };
    }
    if (error instanceof ExchangeError)
      return { kind: 'upstream_unavailable', reason: `${this.name}: ${error.message}` };
    return { kind: 'upstream_failed', detail: error.message };
  }

  private async open(): Promise<Channel> {
    const { channel, release, refresh, ahead } = await this.source.open(
      this.name,
      this.asker(),
      helloOf(this.client),
    );
    this.release = release;
    this.refresh = refresh;
    if (this.ended) {
      release();
      await channel.close();
      throw new Error('the portal session has ended');
    }
    try {
      if (ahead === undefined) await initialize(channel, this.client);
      else if (ahead.said === undefined) await channel.send(notification('notifications/initialized'));
      // The portal session may have ended while the member started: nothing must outlive it.
      if (this.ended) throw new Error('the portal session has ended');
    } catch (error) {
      release();
      await channel.close();
      throw error;
    }
    channel.onmessage = (message) => this.fromMember(message);
    channel.onexit = (_reason, detail) => this.exited(detail);
    this.channel = channel;
    // Told it was initialized ahead, the member may have spoken already: now the portal hears it.
    for (const { message } of ahead?.said ?? []) this.fromMember(message);
    this.listed = new ListedAhead(ahead?.listed);
    return channel;
  }

  /** The portal's first `tools/list` of this member, answered with the list its child gave ahead, if it still holds. */
  private answeredAhead(message: JSONRPCMessage, id: number): boolean {
    const answer = this.listed.answer({ ...message, id } as JSONRPCMessage & { id: number });
    if (answer !== undefined) this.fromMember(answer.message);
    return answer !== undefined;
  }

  private fromMember(message: JSONRPCMessage): void {
    this.listed.heard(message);
    const id = 'id' in message && !('method' in message) ? (message.id as number) : undefined;
    if (id === undefined) {
      this.onmessage?.(message);
      return;
    }
    const pending = this.pending.get(id);
    this.pending.delete(id);
    pending?.answer(message);
  }

  private settle(id: number, refusal: Refusal): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    pending.answer(errorOf(refusal, id));
  }

  /** Every waiting request is answered with why; the next use starts the member afresh. */
  private fail(refusal: Refusal): void {
    for (const id of [...this.pending.keys()]) this.settle(id, refusal);
    this.channel = undefined;
    this.release?.();
    this.onexit?.();
  }

  private exited(detail: string): void {
    this.fail({ kind: 'upstream_exited', detail: `${this.name}: ${detail}` });
  }
}
