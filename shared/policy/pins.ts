import { canonicalJson } from '../protocol/canonical-json.ts';
import { base64url } from '../security/base64url.ts';
import type { Pin, ServerDocument } from './document.ts';

/**
 * Pinned tool definitions (docs/server-documents.md#pins): what a server lists is compared with
 * what an admin reviewed. A pin fixes the whole definition but `_meta`, name included, so a
 * reviewed description under another name is a tool no pin names.
 */

/** A tool as a server lists it. */
export interface Definition {
  name: string;
  [field: string]: unknown;
}

/** pinned: as reviewed; drifted: its pin differs; unpinned: no pin names it; unseen: not listed yet. */
export type PinState = 'pinned' | 'drifted' | 'unpinned' | 'unseen';

/** What a pin fixes of a listed tool: all of it but `_meta`. */
export function pinnedPart(tool: Definition): Definition {
  const { _meta, ...rest } = tool;
  return rest;
}

/** The pin's definition with its name: what the listed tool must equal. */
export function definitionOf(name: string, pin: Pin): Definition {
  return { ...pin.definition, name };
}

/**
 * Listed tools' canonical text, made once per tool object: the edge reads each list twice (what
 * it remembers and reports, then what the caller may see). Listed tools are never changed after
 * they are read.
 */
const listedText = new WeakMap<Definition, string>();

/** The text a digest is taken of, and a pin compared with: the pinned part, canonical. */
export function canonicalDefinition(tool: Definition): string {
  let text = listedText.get(tool);
  if (text === undefined) {
    text = canonicalJson(pinnedPart(tool));
    listedText.set(tool, text);
  }
  return text;
}

export async function definitionDigest(tool: Definition): Promise<string> {
  const text = new TextEncoder().encode(canonicalDefinition(tool));
  return `sha256:${base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', text)))}`;
}

export function pinFor(doc: ServerDocument, name: string): Pin | undefined {
  const tools = doc.pins?.tools;
  return tools !== undefined && Object.hasOwn(tools, name) ? tools[name] : undefined;
}

/** Pins' canonical text, made once per parsed document: a list of N tools compares N times. */
const pinnedText = new WeakMap<Pin, string>();

function textOf(name: string, pin: Pin): string {
  let text = pinnedText.get(pin);
  if (text === undefined) {
    text = canonicalJson(definitionOf(name, pin));
    pinnedText.set(pin, text);
  }
  return text;
}

/**
 * Where a tool stands against the document's pins, by what the server last listed of it
 * (`listed`; undefined: not seen). Undefined: the document pins nothing.
 */
export function pinState(
  doc: ServerDocument,
  name: string,
  listed: Definition | undefined,
): PinState | undefined {
  if (doc.pins === undefined) return undefined;
  const pin = pinFor(doc, name);
  if (pin === undefined) return 'unpinned';
  if (listed === undefined) return 'unseen';
  return canonicalDefinition(listed) === textOf(name, pin) ? 'pinned' : 'drifted';
}

/** Whether a tool in this state may be listed and called. */
export function passesPins(doc: ServerDocument, state: PinState | undefined): boolean {
  if (state === undefined || state === 'pinned') return true;
  return state === 'unpinned' && doc.pins?.unpinned === 'allow';
}

/** The top-level fields in which a listed tool differs from its pin (absent on one side included). */
export function driftedFields(pinned: Definition, listed: Definition): string[] {
  const fields = new Set([...Object.keys(pinnedPart(pinned)), ...Object.keys(pinnedPart(listed))]);
  return [...fields]
    .filter((field) => canonicalJson(pinned[field] ?? null) !== canonicalJson(listed[field] ?? null))
    .sort();
}

/**
 * The header that tells the bridge, on a `tools/list` it forwards, which definitions the document
 * pins: each digest's first 16 characters (96 bits), comma-separated. The bridge counts the listed
 * tools that match none (docs/metrics.md). Only a metric depends on it, so it is left out for
 * documents with more pins than a header should carry.
 */
export const pinsHeader = 'mcp-gateway-pins';
const maxPinsInHeader = 500;

export function shortDigest(digest: string): string {
  return digest.slice('sha256:'.length, 'sha256:'.length + 16);
}

export function pinsHeaderValue(doc: ServerDocument): string | undefined {
  const pins = Object.values(doc.pins?.tools ?? {});
  if (doc.pins === undefined || pins.length > maxPinsInHeader) return undefined;
  return pins.map((pin) => shortDigest(pin.digest)).join(',');
}

export function pinsFromHeader(value: string | null | undefined): ReadonlySet<string> | undefined {
  if (value === null || value === undefined || value.length > maxPinsInHeader * 17) return undefined;
  return new Set(value.split(',').filter((digest) => /^[A-Za-z0-9_-]{16}$/.test(digest)));
}
