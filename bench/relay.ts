/**
 * What the edge's relay does with an answer on its way back, in this process (V8, as in
 * workerd), each as JSON and as one SSE event in 64 KB chunks:
 * - a 1,000-tool list filtered: one server's, and a portal's merged from ten members;
 * - a 1 MiB tool result metered.
 * Each list also as the edge first sees it: one whose reading it has not kept. Beside them, the
 * same through the same framing with the whole message parsed and re-serialised, as the relay
 * did before it read answers from their text. Part of `npm run bench:edge`, alone with
 * `--relay-only`.
 */

import { parseDocument } from '../shared/policy/document.ts';
import { filterListResult, rewritesAnswer } from '../shared/policy/gate.ts';
import { filterListText } from '../shared/policy/list-text.ts';
import type { Principal } from '../shared/policy/policy.ts';
import { filterPortalList, filterPortalListText, type PortalLists } from '../shared/portal/lists.ts';
import { prefixed } from '../shared/portal/names.ts';
import { isFailure, peekMessage } from '../shared/protocol/jsonrpc.ts';
import type { Rewritten } from '../shared/protocol/received.ts';
import { sseData, sseFilter } from '../shared/protocol/sse.ts';
import { jsonBody } from '../workers/mcp/json-stream.ts';
import { quantile, timedRuns } from './stats.ts';

/** The relay's p50 on an answer: seen before (a list's reading remembered), seen for the first time, parsed. */
export interface RelayRow {
  text: number;
  firstSight?: number;
  parsed: number;
}

type Result = Record<string, unknown>;

/** One answer: its text (a variant `k` is a list the edge has not seen), read from its text or parsed. */
interface Answer {
  method: string;
  message: (variant?: number) => string;
  fromText: (data: string) => Rewritten;
  parsed: (result: Result) => Result | undefined;
}

const principal: Principal = { subject: 'p', groups: ['g'], method: 'api_key' };

function doc(name: string, policy: Record<string, unknown>) {
  const parsed = parseDocument({ version: 1, name, access: { groups: ['g'] }, policy });
  if (!parsed.ok) throw new Error(parsed.problems.join());
  return parsed.document;
}

function tools(name: (i: number) => string, variant?: number) {
  return Array.from({ length: 1000 }, (_, i) => ({
    name: name(i),
    description:
      i === 0 && variant !== undefined
        ? `variant ${variant}`
        : `Tool number ${i}, which does something useful with its input`,
    inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
  }));
}

const listed = (result: Result) => JSON.stringify({ result, jsonrpc: '2.0', id: 1 });

function answers(): Record<string, Answer> {
  const policy = {
    tools: { allow: ['tool_*'], deny: ['tool_9*'] },
    overrides: { tool_1: { name: 'renamed' } },
  };
  const server = doc('bench', policy);
  const portal: PortalLists = {
    members: new Map(Array.from({ length: 10 }, (_, m) => [`m${m}`, doc(`m${m}`, policy)])),
    principal,
    naming: prefixed,
    portal: undefined,
  };
  const line = 'A line of a file the tool read, with "quotes", a tab\t and a backslash \\ in it.\n';
  const text = line.repeat(Math.ceil((1 << 20) / line.length));
  return {
    'tools/list, 1,000 tools': {
      method: 'tools/list',
      message: (k) => listed({ tools: tools((i) => `tool_${i}`, k) }),
      fromText: (data) => filterListText(server, principal, 'tools/list', data)?.spliced,
      parsed: (result) => filterListResult(server, principal, 'tools/list', result),
    },
    'tools/list, a portal of 10 × 100 tools': {
      method: 'tools/list',
      message: (k) => listed({ tools: tools((i) => `m${Math.floor(i / 100)}__tool_${i % 100}`, k) }),
      fromText: (data) => filterPortalListText(portal, 'tools/list', data)?.spliced,
      parsed: (result) => filterPortalList(portal, 'tools/list', result),
    },
    'tools/call, 1 MiB result': {
      method: 'tools/call',
      message: () => listed({ content: [{ type: 'text', text }] }),
      fromText: () => undefined,
      parsed: () => undefined,
    },
  };
}

/** The relay's answer filter as the edge runs it: a list read from its text, else left as it came. */
function fromText(answer: Answer) {
  return (data: string): Rewritten => {
    const peek = peekMessage(data);
    if (peek?.kind !== 'response' || !rewritesAnswer(answer.method)) return undefined;
    return answer.fromText(data);
  };
}

/** The same answer parsed whole, filtered, and serialised again. */
function byParsing(answer: Answer) {
  return (data: string): Rewritten => {
    const message = JSON.parse(data) as { result: Result };
    if (!rewritesAnswer(answer.method)) {
      isFailure(message as never);
      return undefined;
    }
    return JSON.stringify({ ...message, result: answer.parsed(message.result) });
  };
}

async function through(bytes: Uint8Array, filter: TransformStream<Uint8Array, Uint8Array>): Promise<void> {
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (let at = 0; at < bytes.length; at += 65_536) c.enqueue(bytes.subarray(at, at + 65_536));
      c.close();
    },
  }).pipeThrough(filter);
  for await (const _ of stream as unknown as AsyncIterable<Uint8Array>);
}

const framings = {
  JSON: [(text: string) => text, (f: (d: string) => Rewritten) => jsonBody(f)],
  SSE: [(text: string) => sseData(text), (f: (d: string) => Rewritten) => sseFilter(f)],
} as const;

/** p50 of `runs` passes of each answer through each framing, after 20 unmeasured. */
export async function relayFigures(runs: number): Promise<Record<string, RelayRow>> {
  const time = async (fn: (i: number) => Promise<unknown>) => quantile(await timedRuns(runs, fn), 0.5);
  const rows: Record<string, RelayRow> = {};
  for (const [name, answer] of Object.entries(answers())) {
    const lists = answer.method === 'tools/list';
    for (const [framing, [frame, filter]] of Object.entries(framings)) {
      const bytes = new TextEncoder().encode(frame(answer.message()));
      // Lists the edge has not read before: the first tool's description differs in each.
      const fresh = lists
        ? Array.from({ length: runs + 20 }, (_, k) => new TextEncoder().encode(frame(answer.message(k))))
        : [];
      for (let i = 0; i < 20; i++) {
        await through(bytes, filter(fromText(answer)));
        await through(bytes, filter(byParsing(answer)));
        if (lists) await through(fresh[runs + i] as Uint8Array, filter(fromText(answer)));
      }
      rows[`${name}, ${framing}`] = {
        text: await time(() => through(bytes, filter(fromText(answer)))),
        ...(lists
          ? { firstSight: await time((i) => through(fresh[i] as Uint8Array, filter(fromText(answer)))) }
          : {}),
        parsed: await time(() => through(bytes, filter(byParsing(answer)))),
      };
    }
  }
  return rows;
}

export function printRelay(rows: Record<string, RelayRow>): void {
  console.log('the relay on an answer, p50 ms (target for a list: <= 1 ms):');
  console.table(
    Object.entries(rows).map(([answer, t]) => ({
      answer,
      'read from its text': t.text.toFixed(3),
      'a list not seen before': t.firstSight?.toFixed(3) ?? '–',
      'parsed and re-serialised': t.parsed.toFixed(3),
      ratio: (t.text / t.parsed).toFixed(2),
    })),
  );
}
