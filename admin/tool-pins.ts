import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseDocument as parseYaml } from 'yaml';
import type { Pin, ServerDocument } from '../shared/policy/document.ts';
import {
  canonicalDefinition,
  type Definition,
  definitionOf,
  driftedFields,
  pinFor,
  pinState,
} from '../shared/policy/pins.ts';
import { canonicalJson } from '../shared/protocol/canonical-json.ts';
import type { ToolSnapshot } from '../shared/storage/kv.ts';
import { withField } from './json-field.ts';

/**
 * `mcpgw pin` and `mcpgw drift` (docs/server-documents.md#pins): the tools a server last listed
 * (the edge's snapshot in KV) against the pins in its document file, where they are reviewed.
 */

/** The same digest as shared/policy/pins.ts `definitionDigest`, synchronously (validation is). */
export function digestOf(tool: Definition): string {
  return `sha256:${createHash('sha256').update(canonicalDefinition(tool)).digest('base64url')}`;
}

/** A digest that is not its definition's would be reviewed as one thing and counted as another. */
export function pinDigestProblems(doc: ServerDocument): string[] {
  return Object.entries(doc.pins?.tools ?? {}).flatMap(([name, pin]) => {
    const digest = digestOf(definitionOf(name, pin));
    return digest === pin.digest
      ? []
      : [`pins.tools.${name}.digest: is not its definition's (${digest}); run mcpgw pin --update`];
  });
}

export interface Difference {
  field: string;
  pinned: unknown;
  listed: unknown;
}

export interface Drift {
  tool: string;
  /** drifted: differs from its pin; unpinned: no pin names it; gone: pinned, no longer listed. */
  state: 'drifted' | 'unpinned' | 'gone';
  differences: Difference[];
}

function listedTools(snapshot: ToolSnapshot): Map<string, Definition> {
  return new Map(snapshot.tools.map((tool) => [tool.name, tool as Definition]));
}

/** Every way what the server listed differs from the document's pins, tool by tool, field by field. */
export function driftOf(document: ServerDocument, snapshot: ToolSnapshot): Drift[] {
  // A document about to get its first pins: every tool is one no pin names.
  const doc = document.pins ? document : { ...document, pins: { unpinned: 'hide' as const, tools: {} } };
  const listed = listedTools(snapshot);
  const drift: Drift[] = [];
  for (const [name, tool] of listed) {
    const state = pinState(doc, name, tool);
    const pin = pinFor(doc, name);
    if (state === 'unpinned') drift.push({ tool: name, state, differences: [] });
    if (state !== 'drifted' || pin === undefined) continue;
    const pinned = definitionOf(name, pin);
    const differences = driftedFields(pinned, tool).map((field) => ({
      field,
      pinned: pinned[field],
      listed: tool[field],
    }));
    drift.push({ tool: name, state, differences });
  }
  for (const name of Object.keys(doc.pins?.tools ?? {})) {
    if (!listed.has(name)) drift.push({ tool: name, state: 'gone', differences: [] });
  }
  return drift.sort((a, b) => a.tool.localeCompare(b.tool));
}

function shown(value: unknown): string {
  if (value === undefined) return '(absent)';
  const text = typeof value === 'string' ? JSON.stringify(value) : canonicalJson(value);
  return text.length > 2000 ? `${text.slice(0, 2000)}… (${text.length} characters)` : text;
}

const stateWords = {
  drifted: 'changed since it was pinned: held back',
  unpinned: 'listed, no pin',
  gone: 'pinned, no longer listed',
};

/** `mcpgw drift` for one server, as a reviewer reads it. */
export function describeDrift(doc: ServerDocument, snapshot: ToolSnapshot, drift: Drift[]): string {
  const unpinned = doc.pins?.unpinned === 'allow' ? 'served' : 'held back';
  const head = `${doc.name}: tools listed at ${snapshot.at}`;
  if (drift.length === 0) return `${head}: all ${snapshot.tools.length} as pinned`;
  const lines = [`${head}:`];
  for (const d of drift) {
    const words = d.state === 'unpinned' ? `${stateWords.unpinned}: ${unpinned}` : stateWords[d.state];
    lines.push(`  ${d.state === 'gone' ? '-' : d.state === 'unpinned' ? '+' : '~'} ${d.tool}: ${words}`);
    for (const { field, pinned, listed } of d.differences) {
      lines.push(`      ${field}:`, `        pinned: ${shown(pinned)}`, `        listed: ${shown(listed)}`);
    }
  }
  return lines.join('\n');
}

export type Pins = NonNullable<ServerDocument['pins']>;

/**
 * The document's pins after `mcpgw pin`: tools no pin names are pinned as listed; with
 * `update`, changed tools are pinned as they are now and pins of tools no longer listed go.
 * `only` limits it to some tools.
 */
export function pinsFrom(
  doc: ServerDocument,
  snapshot: ToolSnapshot,
  options: { update: boolean; only: readonly string[] },
): { pins: Pins; changes: string[]; skipped: string[] } {
  const chosen = (name: string) => options.only.length === 0 || options.only.includes(name);
  // Kept pins get their digest again: one edited by hand is made true to its definition.
  const tools: Record<string, Pin> = Object.fromEntries(
    Object.entries(doc.pins?.tools ?? {}).map(([name, pin]) => [name, pinOf(definitionOf(name, pin))]),
  );
  const changes: string[] = [];
  const skipped: string[] = [];
  const listedByName = listedTools(snapshot);
  for (const d of driftOf(doc, snapshot).filter((d) => chosen(d.tool))) {
    const listed = listedByName.get(d.tool);
    if (d.state === 'gone') {
      if (!options.update) skipped.push(`${d.tool} (no longer listed)`);
      else {
        delete tools[d.tool];
        changes.push(`- ${d.tool}`);
      }
    } else if (listed !== undefined && (d.state === 'unpinned' || options.update)) {
      tools[d.tool] = pinOf(listed);
      const fields = d.differences.map((f) => f.field).join(', ');
      changes.push(d.state === 'unpinned' ? `+ ${d.tool}` : `~ ${d.tool} (${fields})`);
    } else skipped.push(`${d.tool} (changed: ${d.differences.map((f) => f.field).join(', ')})`);
  }
  const sorted = Object.fromEntries(Object.entries(tools).sort(([a], [b]) => a.localeCompare(b)));
  return { pins: { unpinned: doc.pins?.unpinned ?? 'hide', tools: sorted }, changes, skipped };
}

function pinOf(tool: Definition): Pin {
  const { name, _meta, ...definition } = tool;
  return { digest: digestOf(tool), definition };
}

/** Writes the pins into the document's file, the rest of it as it was (a YAML file's comments too). */
export function writePins(file: string, pins: Pins): void {
  const text = readFileSync(file, 'utf8');
  if (extname(file) === '.json') {
    writeFileSync(file, withField(text, 'pins', pins));
    return;
  }
  const yaml = parseYaml(text);
  yaml.set('pins', pins);
  writeFileSync(file, yaml.toString());
}
