import { readdirSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseDocument, type ServerDocument } from '../shared/policy/document.ts';
import { globMatches } from '../shared/policy/glob.ts';
import { pinningProblems } from '../shared/registry/provenance.ts';
import type { ToolSnapshot } from '../shared/storage/kv.ts';
import { pinDigestProblems } from './tool-pins.ts';

export interface Checked {
  documents: { file: string; document: ServerDocument }[];
  problems: string[];
  /** Valid, but likely not what the admin meant: shown, never refused. */
  warnings: string[];
}

export interface CheckOptions {
  /** Production: every server's artifact pinned (image digest, or npm version + integrity). */
  strict?: boolean;
  /** The tools each server last listed (from KV), to find allow patterns that match none of them. */
  snapshots?: Map<string, ToolSnapshot>;
}

const extensions = new Set(['.json', '.yaml', '.yml']);

export function documentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => extensions.has(extname(f)))
    .sort()
    .map((f) => join(dir, f));
}

function read(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  return extname(file) === '.json' ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true });
}

/** Allow patterns (and override keys) that match no tool the server listed: a typo, or a stale rule. */
function deadPatterns(doc: ServerDocument, snapshot: ToolSnapshot): string[] {
  const names = snapshot.tools.map((t) => t.name);
  const never = (pattern: string) => !names.some((name) => globMatches(pattern, name));
  const where = [
    ...doc.policy.tools.allow.map((p, i) => [`policy.tools.allow[${i}]`, p] as const),
    ...doc.policy.grants.flatMap((g, i) =>
      g.tools.allow.map((p, j) => [`policy.grants[${i}].tools.allow[${j}]`, p] as const),
    ),
    ...Object.keys(doc.policy.overrides).map((real) => [`policy.overrides.${real}`, real] as const),
  ];
  return where
    .filter(([, pattern]) => never(pattern))
    .map(
      ([path, pattern]) =>
        `${path}: "${pattern}" matches none of the ${names.length} tools ${doc.name} listed at ${snapshot.at}`,
    );
}

/**
 * Prompts and resources were served unfiltered when a document named no rule for them; now they
 * are denied like tools. A document that names no rule says what that now means, and how to keep
 * the old behaviour or say the new one on purpose.
 */
export function defaultDenyWarnings(doc: ServerDocument): string[] {
  return (['prompts', 'resources'] as const)
    .filter((kind) => doc.policy[kind] === undefined && doc.policy.grants.every((g) => g[kind] === undefined))
    .map(
      (kind) =>
        `policy.${kind} is absent: clients get no ${kind} of ${doc.name} (default deny; until this release they got every one). ` +
        `Keep serving them all with "${kind}": {"allow": ["*"]}; deny them on purpose with "${kind}": {}`,
    );
}

/** Cross-checks no single document can make: file names, duplicates, grants nobody can use. */
function crossCheck(file: string, doc: ServerDocument, seen: Map<string, string>): string[] {
  const problems: string[] = [];
  const stem = basename(file, extname(file));
  if (stem !== doc.name)
    problems.push(`name "${doc.name}" must match the file name (${doc.name}${extname(file)})`);
  const other = seen.get(doc.name);
  if (other !== undefined) problems.push(`server "${doc.name}" is also defined in ${other}`);
  seen.set(doc.name, file);
  doc.policy.grants.forEach((grant, i) => {
    grant.groups.forEach((group, j) => {
      if (!doc.access.groups.includes(group) && !doc.access.anonymous) {
        problems.push(
          `policy.grants[${i}].groups[${j}]: group "${group}" may not connect (add it to access.groups)`,
        );
      }
    });
  });
  return problems;
}

/** A document that says where the bridge is breaks when the bridge moves (another port, another cluster). */
function upstreamWarnings(doc: ServerDocument): string[] {
  if (doc.upstream === undefined) return [];
  return [
    `upstream.url is deprecated: it pins ${doc.name} to ${doc.upstream.url}, wherever the bridge really is. ` +
      'Remove it: the edge reaches the bridge at BRIDGE_URL/<name>/mcp (wrangler.toml; npm start sets it)',
  ];
}

/** One document's problems and warnings; with --strict, patterns that match no reported tool are problems. */
function checkOne(file: string, doc: ServerDocument, seen: Map<string, string>, options: CheckOptions) {
  const snapshot = options.snapshots?.get(doc.name);
  const dead = snapshot ? deadPatterns(doc, snapshot) : [];
  const at = (lines: string[]) => lines.map((line) => `${file}: ${line}`);
  return {
    problems: at([
      ...crossCheck(file, doc, seen),
      ...pinDigestProblems(doc),
      ...(options.strict ? [...dead, ...pinningProblems(doc.provenance)] : []),
    ]),
    warnings: at([...(options.strict ? [] : dead), ...upstreamWarnings(doc), ...defaultDenyWarnings(doc)]),
  };
}

/** Every document parsed with the Worker's own schema; problems name file and field path. */
export function checkFiles(files: string[], options: CheckOptions = {}): Checked {
  const documents: Checked['documents'] = [];
  const problems: string[] = [];
  const warnings: string[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    let input: unknown;
    try {
      input = read(file);
    } catch (error) {
      problems.push(
        `${file}: not valid ${extname(file).slice(1).toUpperCase()} (${(error as Error).message})`,
      );
      continue;
    }
    const parsed = parseDocument(input);
    if (!parsed.ok) {
      problems.push(...parsed.problems.map((p) => `${file}: ${p}`));
      continue;
    }
    const found = checkOne(file, parsed.document, seen, options);
    problems.push(...found.problems);
    warnings.push(...found.warnings);
    documents.push({ file, document: parsed.document });
  }
  problems.push(...portalProblems(documents));
  return { documents, problems, warnings };
}

/** A portal's members are servers of this set, behind the bridge, and no portals themselves. */
function portalProblems(documents: Checked['documents']): string[] {
  const byName = new Map(documents.map(({ document }) => [document.name, document]));
  return documents.flatMap(({ file, document }) =>
    (document.portal?.members ?? []).flatMap((member, i) => {
      const at = `${file}: portal.members[${i}]: "${member}"`;
      const doc = byName.get(member);
      if (doc === undefined) return [`${at} has no document here (servers/${member}.json)`];
      if (doc.portal !== undefined) return [`${at} is a portal itself; name its members instead`];
      if (doc.upstream !== undefined)
        return [`${at} has an upstream of its own: a portal's members are behind the bridge`];
      return [];
    }),
  );
}
