import { listShapes } from '../../shared/policy/list-text.ts';
import type { Naming } from '../../shared/portal/names.ts';
import { addressed, listField, namespacedList, namespacedUpdate } from '../../shared/portal/rewrite.ts';
import {
  isFailure,
  type JSONRPCMessage,
  kindOf,
  paramsOf,
  progressTokenOf,
  type RequestId,
  resultOf as resultIn,
} from '../../shared/protocol/jsonrpc.ts';
import { errorOf } from '../../shared/protocol/refusal.ts';
import { bridgeRevision, negotiated } from '../sessions/versions.ts';
import type { Channel } from '../upstream/channel.ts';
import type { ExitReason } from '../upstream/upstream.ts';
import { type Asker, Member, type MemberSource } from './member.ts';

type Request = JSONRPCMessage & { id: RequestId; method: string };

/** A client request fanned out to every member: the parts come back one by one. */
interface Gathering {
  readonly clientId: RequestId;
  readonly method: string;
  readonly items: Record<string, unknown>[];
  waiting: number;
}

/** Who the portal is to a client, in either revision. */
export const portalInfo = { name: 'mcp-edge-gateway-portal', version: '0.1.0' };
export const portalInstructions = 'Every server you may use, behind one URL: names are <server>__<name>.';

const maxPages = 20;
const maxQuestions = 1000;

function resultOf(id: RequestId, result: Record<string, unknown>): JSONRPCMessage {
  return { jsonrpc: '2.0', id, result } as JSONRPCMessage;
}

/**
 * What a portal session talks to: every member server the caller may use, as one server. A
 * request that names a tool, prompt or resource goes to its member under the member's own name;
 * a list goes to every member and comes back merged under the portal's names (shared/portal);
 * what a member sends the client (questions, progress, list changes) reaches it with ids that
 * cannot cross. A member is started on first use, and a member that fails ends only its part.
 */
export class PortalChannel implements Channel {
  onmessage?: (message: JSONRPCMessage) => void;
  onexit?: (reason: ExitReason, detail: string) => void;
  private readonly members = new Map<string, Member>();
  /** Who may be reached now: the edge says so on every request. */
  private allowed: ReadonlySet<string>;
  private readonly source: MemberSource;
  private client: Record<string, unknown> = {};
  private revision = bridgeRevision;
  private nextId = 1;
  /** A member's question to the client, under the portal's id: where the answer goes. */
  private readonly questions = new Map<string, { member: Member; id: RequestId }>();
  /** The progress tokens of the client's requests, by the member each went to. */
  private readonly tokens = new Map<string | number, Member>();
  /** The level the client asked for with `logging/setLevel`, for members started later too. */
  private level: unknown;

  private readonly naming: Naming;

  /** The request the session serves now: whom a member that acts as each person acts as. */
  private asker: Asker;

  constructor(source: MemberSource, allowed: ReadonlySet<string>, naming: Naming, asker: Asker) {
    this.asker = asker;
    this.source = source;
    this.allowed = allowed;
    this.naming = naming;
  }

  /** The members the edge lets this caller reach now; one that left the set is ended with its questions. */
  allow(members: ReadonlySet<string>, asker: Asker): void {
    this.asker = asker;
    this.allowed = members;
    for (const [name, member] of this.members) {
      if (members.has(name)) continue;
      this.forget(member);
      void member.close();
    }
  }

  /** A member gone: its place, its questions and its progress tokens. */
  private forget(member: Member): void {
    if (this.members.get(member.name) === member) this.members.delete(member.name);
    for (const [id, question] of this.questions) if (question.member === member) this.questions.delete(id);
    for (const [token, owner] of this.tokens) if (owner === member) this.tokens.delete(token);
  }

  async send(message: JSONRPCMessage): Promise<void> {
    switch (kindOf(message)) {
      case 'request':
        return this.request(message as Request);
      case 'notification':
        return this.notify(message as JSONRPCMessage & { method: string });
      default:
        return this.answer(message as JSONRPCMessage & { id: RequestId });
    }
  }

  setProtocolVersion(): void {}

  async close(): Promise<void> {
    const members = [...this.members.values()];
    this.members.clear();
    await Promise.allSettled(members.map((member) => member.close()));
  }

  private request(message: Request): void {
    const answer = this.answerHere(message);
    if (answer !== undefined) this.deliver(answer);
  }

  /** What the portal answers itself; undefined when a member (or every member) will. */
  private answerHere(message: Request): JSONRPCMessage | undefined {
    const { id, method } = message;
    if (method === 'initialize') return this.initialize(message);
    if (method === 'ping') return resultOf(id, {});
    if (method === 'logging/setLevel') {
      this.level = paramsOf(message)?.level;
      for (const member of this.reachable()) this.setLevel(member);
      return resultOf(id, {});
    }
    if (method in listShapes) return this.gather(message);
    const address = addressed(this.naming, message);
    if (address.to === 'all') return errorOf({ kind: 'unknown_method', method, stateless: false }, id);
    const member = address.to === 'member' ? this.member(address.member) : undefined;
    if (address.to === 'none' || member === undefined) {
      // The same words whether no member has the name or the caller may not reach it: nothing is learnt.
      return errorOf(
        { kind: 'invalid_params', detail: `${address.asked} is no name of this portal's servers` },
        id,
      );
    }
    const token = progressTokenOf(message);
    if (token !== undefined) this.tokens.set(token, member);
    const answered = (answer: JSONRPCMessage) => {
      if (token !== undefined) this.tokens.delete(token);
      this.deliver({ ...answer, id } as JSONRPCMessage);
    };
    member.ask(address.message, answered, id);
    return undefined;
  }

  /** The portal answers initialize itself: members are initialized with the client's terms on first use. */
  private initialize(message: Request): JSONRPCMessage {
    this.client = paramsOf(message) ?? {};
    this.revision = negotiated(this.client.protocolVersion, bridgeRevision);
    return resultOf(message.id, {
      protocolVersion: this.revision,
      capabilities: {
        tools: { listChanged: true },
        prompts: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        completions: {},
        logging: {},
      },
      serverInfo: portalInfo,
      instructions: portalInstructions,
    });
  }

  /** Every member's list, merged; a member that cannot answer is left out, not the whole list. */
  private gather(message: Request): JSONRPCMessage | undefined {
    const members = [...this.allowed].map((name) => this.member(name)).filter((m) => m !== undefined);
    const gathering: Gathering = { clientId: message.id, method: message.method, items: [], waiting: 0 };
    if (members.length === 0) return resultOf(message.id, { [listField(message.method)]: [] });
    gathering.waiting = members.length;
    for (const member of members) this.page(member, gathering, undefined, 0);
    return undefined;
  }

  private page(member: Member, gathering: Gathering, cursor: string | undefined, pages: number): void {
    const params = cursor === undefined ? {} : { cursor };
    const ask = { jsonrpc: '2.0', id: 0, method: gathering.method, params } as JSONRPCMessage;
    member.ask(
      ask,
      (answer) => {
        const result = resultIn(answer);
        if (result !== undefined && !isFailure(answer)) {
          gathering.items.push(...namespacedList(this.naming, member.name, gathering.method, result));
          const next = result.nextCursor;
          if (typeof next === 'string' && pages + 1 < maxPages)
            return this.page(member, gathering, next, pages + 1);
        }
        gathering.waiting -= 1;
        if (gathering.waiting > 0) return;
        this.deliver(resultOf(gathering.clientId, { [listField(gathering.method)]: gathering.items }));
      },
      gathering.clientId,
    );
  }

  private notify(message: JSONRPCMessage & { method: string }): void {
    if (message.method === 'notifications/initialized') return;
    if (message.method === 'notifications/cancelled') {
      for (const member of this.members.values()) member.cancel(paramsOf(message)?.requestId as RequestId);
      return;
    }
    // Progress from the client would be for a member's question; whose is not kept: it goes nowhere.
    if (message.method === 'notifications/progress') return;
    for (const member of this.reachable()) member.tell(message);
  }

  /** The client's logging level, asked of a member under the portal's own id (its answer is the portal's). */
  private setLevel(member: Member): void {
    if (this.level === undefined) return;
    const ask = { jsonrpc: '2.0', id: 0, method: 'logging/setLevel', params: { level: this.level } };
    member.ask(ask as JSONRPCMessage, () => undefined);
  }

  /** The started members the edge still lets this caller reach. */
  private reachable(): Member[] {
    return [...this.members.values()].filter((member) => this.allowed.has(member.name));
  }

  /** The client's answer to a member's question goes to that member, under the member's id. */
  private answer(message: JSONRPCMessage & { id: RequestId }): void {
    const question = this.questions.get(String(message.id));
    if (question === undefined || !this.allowed.has(question.member.name)) return;
    this.questions.delete(String(message.id));
    question.member.tell({ ...message, id: question.id } as JSONRPCMessage);
  }

  /** A member, started on first use, when the edge lets this caller reach it. */
  private member(name: string): Member | undefined {
    if (!this.allowed.has(name) || !this.source.has(name)) return undefined;
    let member = this.members.get(name);
    if (member === undefined) {
      member = new Member(
        name,
        this.source,
        { ...this.client, protocolVersion: this.revision },
        () => this.asker,
      );
      member.onmessage = (message) => this.fromMember(member as Member, message);
      const started = member;
      member.onexit = () => this.forget(started);
      this.members.set(name, member);
      this.setLevel(member);
    }
    return member;
  }

  private fromMember(member: Member, message: JSONRPCMessage): void {
    if (!this.allowed.has(member.name)) return;
    const method = 'method' in message ? message.method : undefined;
    const params = paramsOf(message);
    // A member reports progress only on the client's requests it was sent.
    if (method === 'notifications/progress' && this.tokens.get(params?.progressToken as string) !== member)
      return;
    if (method === 'notifications/cancelled') {
      // A member withdraws its own question, under the portal's id for it; never another's.
      const asked = [...this.questions].find(([, q]) => q.member === member && q.id === params?.requestId);
      if (asked === undefined) return;
      this.questions.delete(asked[0]);
      this.deliver({ ...message, params: { ...params, requestId: asked[0] } } as JSONRPCMessage);
      return;
    }
    if (kindOf(message) === 'request') {
      const id = `${member.name}:${this.nextId++}`;
      // A client that never answers does not grow this without bound: the oldest question goes.
      if (this.questions.size >= maxQuestions)
        this.questions.delete(this.questions.keys().next().value as string);
      this.questions.set(id, { member, id: (message as Request).id });
      this.deliver({ ...message, id } as JSONRPCMessage);
    } else this.deliver(namespacedUpdate(this.naming, member.name, message));
  }

  private deliver(message: JSONRPCMessage): void {
    queueMicrotask(() => this.onmessage?.(message));
  }
}
