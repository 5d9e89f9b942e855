import type { ServerDocument } from '../../shared/policy/document.ts';
import {
  type Definition,
  definitionDigest,
  definitionOf,
  driftedFields,
  passesPins,
  pinFor,
  pinState,
} from '../../shared/policy/pins.ts';
import type { Refusal } from '../../shared/protocol/refusal.ts';
import { dataPointOf } from '../../shared/storage/analytics.ts';
import { ToolSnapshotSchema, toolsKey } from '../../shared/storage/kv.ts';
import type { McpRequest, Passage } from './passage.ts';

/**
 * What each server last listed, as this edge saw it: its whole tool definitions, kept in the
 * isolate and in KV's snapshot (`tools:<server>`). The catalog, `mcpgw pin` and `mcpgw drift`
 * read the snapshot; the pin check of a call reads what this isolate saw, else the snapshot.
 * A tool held back by its server's pins is reported once per isolate and definition: an
 * Analytics Engine point and an audit line (docs/server-documents.md#pins).
 */

interface Seen {
  /** When this isolate last listed, or read the snapshot of, the server's tools. */
  at: number;
  tools: Map<string, Definition>;
}

const seen = new Map<string, Seen>();
const written = new Map<string, { at: number; held: string }>();
const reported = new Set<string>();
const writeEveryMs = 60_000;
const maxTools = 5000;
const maxServers = 1000;
const maxReportsPerList = 20;

/** A parsed list result's tools with string names. */
export function namedTools(result: Record<string, unknown>): Definition[] {
  if (!Array.isArray(result.tools)) return [];
  return (result.tools as Record<string, unknown>[]).filter(
    (t): t is Definition => typeof t?.name === 'string',
  );
}

/**
 * The tools a server listed (one page of them, read by `listed` only when needed): remembered,
 * and reported where its pins hold them back. A server without pins holds nothing back: its
 * list is read once a minute, for the snapshot.
 */
export function observeList(
  x: McpRequest,
  passage: Passage,
  doc: ServerDocument,
  listed: () => Definition[],
): void {
  const server = doc.name;
  const now = Date.now();
  const last = written.get(server);
  const due = last === undefined || last.at < now - writeEveryMs;
  if (doc.pins === undefined && !due) return;
  const tools = listed().slice(0, maxTools);
  const known = remembered(doc, tools, now);
  const held = tools
    .map((tool) => ({ tool, state: pinState(doc, tool.name, tool) }))
    .filter(({ state }) => !passesPins(doc, state));
  const print = held.map(({ tool, state }) => `${tool.name}:${state}`).join('\n');
  // A change in what is held back is written at once: other isolates' calls read it.
  if (due || last.held !== print) {
    written.set(server, { at: now, held: print });
    x.ctx.waitUntil(writeSnapshot(x.env.GATEWAY_KV, server, known, now));
  }
  if (held.length > 0) x.ctx.waitUntil(report(x, passage, doc, held.slice(0, maxReportsPerList)));
}

/**
 * What to keep of a list: a pinned server's pages merged and kept in the isolate (calls are
 * checked against them); another server's page only goes to the snapshot, nothing stays.
 */
function remembered(doc: ServerDocument, tools: Definition[], now: number): Map<string, Definition> {
  if (doc.pins === undefined) return new Map(tools.map((tool) => [tool.name, tool]));
  if (seen.size >= maxServers && !seen.has(doc.name)) seen.clear();
  const known = seen.get(doc.name)?.tools ?? new Map<string, Definition>();
  for (const tool of tools) if (known.size < maxTools || known.has(tool.name)) known.set(tool.name, tool);
  seen.set(doc.name, { at: now, tools: known });
  return known;
}

function writeSnapshot(kv: KVNamespace, server: string, tools: Map<string, Definition>, now: number) {
  return kv.put(
    toolsKey(server),
    JSON.stringify({ at: new Date(now).toISOString(), tools: [...tools.values()] }),
  );
}

async function report(
  x: McpRequest,
  passage: Passage,
  doc: ServerDocument,
  held: { tool: Definition; state: string | undefined }[],
): Promise<void> {
  for (const { tool, state } of held) {
    const digest = await definitionDigest(tool);
    const key = `${doc.name}\n${tool.name}\n${digest}`;
    if (reported.has(key)) continue;
    if (reported.size >= 10_000) reported.clear();
    reported.add(key);
    const decision = `tool_${state}`;
    const record = { ...passage.record, server: doc.name, method: 'tools/list', name: tool.name, decision };
    x.env.ANALYTICS.writeDataPoint(dataPointOf({ ...record, status: 'refused' }));
    const pin = pinFor(doc, tool.name);
    console.log(
      JSON.stringify({
        event: 'mcp.tools.drift',
        time: new Date().toISOString(),
        server: doc.name,
        tool: tool.name,
        state,
        listed: digest,
        ...(pin === undefined
          ? {}
          : { pinned: pin.digest, fields: driftedFields(definitionOf(tool.name, pin), tool) }),
      }),
    );
  }
}

/** What the server last listed of one tool: this isolate's view while fresh, else the snapshot. */
async function lastListed(x: McpRequest, server: string, name: string): Promise<Definition | undefined> {
  const mine = seen.get(server);
  if (mine !== undefined && mine.at > Date.now() - x.settings.DOCUMENT_CACHE_SECONDS * 1000) {
    return mine.tools.get(name);
  }
  const text = await x.env.GATEWAY_KV.get(toolsKey(server), 'text');
  const parsed = text === null ? undefined : ToolSnapshotSchema.safeParse(JSON.parse(text));
  if (parsed?.success !== true) return mine?.tools.get(name);
  const tools = new Map(parsed.data.tools.map((tool) => [tool.name, tool as Definition]));
  seen.set(server, { at: Date.now(), tools });
  return tools.get(name);
}

/**
 * The pin stage, for a tool call the gate let through: a server with pins is called only for
 * a tool whose last listed definition is the reviewed one (or, if the document says so, one
 * no pin names).
 */
export async function heldBack(x: McpRequest, passage: Passage, tool: string): Promise<Refusal | undefined> {
  const doc = passage.doc;
  if (doc.pins === undefined) return undefined;
  const pin = pinFor(doc, tool);
  if (pin === undefined && doc.pins.unpinned === 'allow') return undefined;
  const listed = pin === undefined ? undefined : await lastListed(x, doc.name, tool);
  const state = pinState(doc, tool, listed);
  if (state === undefined || state === 'pinned' || passesPins(doc, state)) return undefined;
  const fields = state === 'drifted' && pin && listed ? driftedFields(definitionOf(tool, pin), listed) : [];
  return { kind: 'tool_not_pinned', server: doc.name, tool, state, fields };
}

/** Tests: a fresh isolate. */
export function forgetListed(): void {
  seen.clear();
  written.clear();
  reported.clear();
}
