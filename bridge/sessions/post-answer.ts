import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { type JSONRPCMessage, type RequestId, validMessage } from '../../shared/protocol/jsonrpc.ts';
import { EventStream, jsonAnswer } from '../stateless/writer.ts';
import { firstEventWaitMs } from './json-answer.ts';

export type PostedRequest = JSONRPCMessage & { id: RequestId; method: string };

/**
 * The request POSTed alone to an open session that the session answers itself: one the SDK's
 * transport would take, by its own checks in its order (Accept, Content-Type, the session's id,
 * the revision header, a valid message). Undefined for anything else, which the SDK's transport
 * answers as before: `initialize`, a batch, notifications and responses, and every refusal.
 */
export function ownRequest(
  request: Request,
  body: unknown,
  sessionId: string | undefined,
): PostedRequest | undefined {
  if (sessionId === undefined || request.method !== 'POST') return undefined;
  const headers = request.headers;
  const accept = headers.get('accept');
  if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) return undefined;
  if (!isJsonContentType(headers.get('content-type'))) return undefined;
  if (headers.get('mcp-session-id') !== sessionId) return undefined;
  const revision = headers.get('mcp-protocol-version');
  if (revision !== null && !SUPPORTED_PROTOCOL_VERSIONS.includes(revision)) return undefined;
  const message = validMessage(body);
  if (message === undefined || !('method' in message) || !('id' in message)) return undefined;
  return message.method === 'initialize' ? undefined : (message as PostedRequest);
}

/**
 * What a POSTed request gets back: one JSON body when its answer is the first thing said about
 * it; else (progress, a question for the client, or nothing within `waitMs`) an SSE stream from
 * then on, which ends with the answer. A long call still gets its headers early.
 */
export class PostAnswer {
  readonly response: Promise<Response>;
  private settle!: (response: Response) => void;
  private stream: EventStream | undefined;
  private done = false;
  private readonly timer: NodeJS.Timeout;
  private readonly sessionId: string;

  constructor(sessionId: string, waitMs = firstEventWaitMs) {
    this.sessionId = sessionId;
    this.response = new Promise((resolve) => {
      this.settle = resolve;
    });
    this.timer = setTimeout(() => this.streaming(), waitMs);
  }

  /**
   * A message about the request; `last`: its answer. Once the client has left, what comes for
   * the request goes nowhere, as with the SDK's transport: not to the GET stream, which is for
   * messages unrelated to a request still running.
   */
  write(message: JSONRPCMessage, text: string | undefined, last: boolean): void {
    if (this.done) return;
    if (last && this.stream === undefined) {
      this.finish();
      this.settle(jsonAnswer({ status: 200, message, text }, { 'mcp-session-id': this.sessionId }));
      return;
    }
    const stream = this.streaming();
    stream.write(message, text);
    if (last) this.end(stream);
  }

  /** No answer is coming (the session ended, the client cancelled): the stream ends without one, as the SDK's transport ends its. */
  close(): void {
    if (!this.done) this.end(this.streaming());
  }

  private end(stream: EventStream): void {
    this.finish();
    stream.end();
  }

  private streaming(): EventStream {
    if (this.stream !== undefined) return this.stream;
    clearTimeout(this.timer);
    const stream = new EventStream({ 'mcp-session-id': this.sessionId });
    stream.onclose = () => this.finish();
    this.stream = stream;
    this.settle(stream.response);
    return stream;
  }

  private finish(): void {
    this.done = true;
    clearTimeout(this.timer);
  }
}

/**
 * The answers to the requests a session took itself, by request id: each kept until its answer
 * (or its timeout's refusal) comes, even once its client has left.
 */
export class OwnAnswers {
  private readonly pending = new Map<RequestId, PostAnswer>();

  open(id: RequestId, sessionId: string): PostAnswer {
    const answer = new PostAnswer(sessionId);
    this.pending.set(id, answer);
    return answer;
  }

  /**
   * Whether `message` is about one of them: the answer (`relatedRequestId` undefined) or
   * something said in the middle of the request. Then it went on that request's answer.
   */
  deliver(
    message: JSONRPCMessage,
    relatedRequestId: RequestId | undefined,
    line: string | undefined,
  ): boolean {
    const last = relatedRequestId === undefined;
    const id = last ? ('method' in message ? undefined : message.id) : relatedRequestId;
    const answer = id === undefined || id === null ? undefined : this.pending.get(id);
    if (answer === undefined) return false;
    if (last) this.pending.delete(id as RequestId);
    answer.write(message, line, last);
    return true;
  }

  /** A request that gets no answer (cancelled): the stream of its POST ends, not left open for one. */
  drop(id: RequestId | undefined): void {
    const answer = id === undefined ? undefined : this.pending.get(id);
    if (answer === undefined) return;
    this.pending.delete(id as RequestId);
    answer.close();
  }

  /** The session ended: every answer still waiting ends without one. */
  closeAll(): void {
    for (const answer of this.pending.values()) answer.close();
    this.pending.clear();
  }
}
