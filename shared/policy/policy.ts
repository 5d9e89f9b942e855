import type { Offered } from '../protocol/refusal.ts';
import type { Rule, ServerDocument } from './document.ts';
import { anyMatches } from './glob.ts';
import { passesPins, pinState } from './pins.ts';
import { canonicalPattern, canonicalUri, denyForms, foldPattern } from './uri.ts';

/** Who is asking, as the edge authenticated them. */
export interface Principal {
  readonly subject: string;
  readonly groups: readonly string[];
  readonly method: 'api_key' | 'jwt' | 'oauth' | 'anonymous';
}

/** What a rule covers: the kinds of things a server offers (one list, beside the refusals that name them). */
export type Kind = Offered;

export type Verdict =
  | { allowed: true }
  | { allowed: false; reason: 'no_access' | 'denied' | 'not_allowed' | 'unknown_name' | 'unclear_uri' };

const allow: Verdict = { allowed: true };

export function mayConnect(doc: ServerDocument, principal: Principal): boolean {
  // Open to anonymous callers means open to everyone: a key never buys less than no key.
  if (doc.access.anonymous) return true;
  if (principal.method === 'anonymous') return false;
  if (doc.access.principals.includes(principal.subject)) return true;
  return principal.groups.some((group) => doc.access.groups.includes(group));
}

function applies(grant: ServerDocument['policy']['grants'][number], principal: Principal): boolean {
  if (principal.method === 'anonymous') return false;
  return (
    grant.principals.includes(principal.subject) || grant.groups.some((g) => principal.groups.includes(g))
  );
}

/** The rules that speak to this principal for this kind: none at all allows nothing. */
function rulesFor(doc: ServerDocument, principal: Principal, kind: Kind): Rule[] {
  const grants = doc.policy.grants.filter((grant) => applies(grant, principal));
  return [doc.policy[kind], ...grants.map((g) => g[kind])].filter((r): r is Rule => r !== undefined);
}

/**
 * The one predicate: may this principal see and use this tool, prompt or resource (by its
 * real name, or URI)? Default deny, for every kind; a deny in any rule that applies wins over
 * every allow.
 */
export function decide(doc: ServerDocument, principal: Principal, kind: Kind, name: string): Verdict {
  return decider(doc, principal, kind)(name);
}

const noAccess: Verdict = { allowed: false, reason: 'no_access' };
const denied: Verdict = { allowed: false, reason: 'denied' };
const notAllowed: Verdict = { allowed: false, reason: 'not_allowed' };

/** `decide` for many names of one kind (a list): the rules that speak to the principal are found once. */
export function decider(doc: ServerDocument, principal: Principal, kind: Kind): (name: string) => Verdict {
  if (!mayConnect(doc, principal)) return () => noAccess;
  const rules = rulesFor(doc, principal, kind);
  if (kind === 'resources') return (name) => decideUri(rules, name);
  return (name) => {
    if (rules.some((rule) => anyMatches(rule.deny, name))) return denied;
    return rules.some((rule) => anyMatches(rule.allow, name)) ? allow : notAllowed;
  };
}

/**
 * A resource URI (or template) on its canonical form (shared/policy/uri.ts). A deny matches in any
 * case and without query or fragment, so that `FILE:///Secret?x` cannot pass a deny of
 * `file:///secret`; an allow only as written, so that it never widens.
 */
function decideUri(rules: Rule[], uri: string): Verdict {
  const canonical = canonicalUri(uri);
  if (!canonical.ok) return { allowed: false, reason: 'unclear_uri' };
  const patterns = rules.map(uriPatterns);
  const denies = patterns.flatMap((p) => p.deny);
  if (denyForms(canonical.uri).some((form) => anyMatches(denies, form))) {
    return { allowed: false, reason: 'denied' };
  }
  const allows = patterns.flatMap((p) => p.allow);
  return anyMatches(allows, canonical.uri) ? allow : { allowed: false, reason: 'not_allowed' };
}

/**
 * A rule's patterns in the URIs' form, made once per parsed rule: a list of N resources is
 * decided N times against the same rules.
 */
const uriPatternCache = new WeakMap<Rule, { allow: string[]; deny: string[] }>();

function uriPatterns(rule: Rule): { allow: string[]; deny: string[] } {
  let patterns = uriPatternCache.get(rule);
  if (patterns === undefined) {
    patterns = { allow: rule.allow.map(canonicalPattern), deny: rule.deny.map(foldPattern) };
    uriPatternCache.set(rule, patterns);
  }
  return patterns;
}

/** Whether no name at all of this kind can pass for this principal: nothing allowed, or everything denied. */
export function seesNothing(doc: ServerDocument, principal: Principal, kind: Kind): boolean {
  if (!mayConnect(doc, principal)) return true;
  const rules = rulesFor(doc, principal, kind);
  if (rules.some((rule) => rule.deny.includes('*'))) return true;
  return rules.every((rule) => rule.allow.length === 0);
}

/** A document's renames both ways, made once per parsed document (a list asks for each tool). */
const renamesCache = new WeakMap<object, { exposed: Map<string, string>; real: Map<string, string> }>();

function renames(doc: ServerDocument): { exposed: Map<string, string>; real: Map<string, string> } {
  const overrides = doc.policy.overrides;
  let found = renamesCache.get(overrides);
  if (found === undefined) {
    found = { exposed: new Map(), real: new Map() };
    for (const [real, override] of Object.entries(overrides)) {
      const exposed = override.name ?? real;
      found.exposed.set(real, exposed);
      if (!found.real.has(exposed)) found.real.set(exposed, real);
    }
    renamesCache.set(overrides, found);
  }
  return found;
}

/** The document's override of a tool, if it has one (own entries only: a tool may be called `constructor`). */
function overrideOf(
  doc: ServerDocument,
  name: string,
): ServerDocument['policy']['overrides'][string] | undefined {
  return Object.hasOwn(doc.policy.overrides, name) ? doc.policy.overrides[name] : undefined;
}

/** The name clients see for a real tool name. */
export function exposedName(doc: ServerDocument, real: string): string {
  return renames(doc).exposed.get(real) ?? real;
}

/** The real name behind an exposed one; a real name hidden by a rename is not callable by it. */
export function realName(doc: ServerDocument, exposed: string): string | undefined {
  const { exposed: exposedOf, real } = renames(doc);
  const behind = real.get(exposed);
  if (behind !== undefined) return behind;
  const renamedAway = exposedOf.get(exposed);
  return renamedAway !== undefined && renamedAway !== exposed ? undefined : exposed;
}

export interface ListedTool {
  name: string;
  description?: string;
  [key: string]: unknown;
}

/**
 * Whether `tools/list` shows a tool to this principal: hidden, as the server listed it, or with
 * the document's override applied. `definition` is read only when the answer depends on it
 * (pins), so a list can be decided by its names. Made once per list.
 */
export function toolsShown(
  doc: ServerDocument,
  principal: Principal,
): (name: string, definition: () => ListedTool) => 'hidden' | 'as listed' | 'overridden' {
  const allowed = decider(doc, principal, 'tools');
  const { exposed } = renames(doc);
  return (name, definition) => {
    // A tool whose name another tool was renamed to is shadowed: that name calls the other one.
    if (realName(doc, exposed.get(name) ?? name) !== name) return 'hidden';
    if (!allowed(name).allowed) return 'hidden';
    // A tool that is not as reviewed is not shown: its description is what could mislead.
    if (doc.pins !== undefined && !passesPins(doc, pinState(doc, name, definition()))) return 'hidden';
    return exposed.has(name) ? 'overridden' : 'as listed';
  };
}

/** A shown tool under its exposed name, with the document's description if it gives one. */
export function overridden<T extends ListedTool>(doc: ServerDocument, tool: T): T {
  const override = overrideOf(doc, tool.name);
  if (override === undefined) return tool;
  return {
    ...tool,
    name: override.name ?? tool.name,
    ...(override.description ? { description: override.description } : {}),
  };
}

/** What `tools/list` shows this principal: allowed tools as reviewed (pins) only, under their exposed names. */
export function visibleTools<T extends ListedTool>(
  doc: ServerDocument,
  principal: Principal,
  tools: readonly T[],
): T[] {
  const shownAs = toolsShown(doc, principal);
  return tools.flatMap((tool) => {
    const shown = shownAs(tool.name, () => tool);
    return shown === 'hidden' ? [] : [shown === 'as listed' ? tool : overridden(doc, tool)];
  });
}

export type CallGate =
  | { allowed: true; realName: string }
  | { allowed: false; reason: Exclude<Verdict, { allowed: true }>['reason'] };

/** Whether `tools/call` of an exposed name passes, and the real name to forward. Same predicate as the list. */
export function gateCall(doc: ServerDocument, principal: Principal, exposed: string): CallGate {
  const real = realName(doc, exposed);
  if (real === undefined) return { allowed: false, reason: 'unknown_name' };
  const verdict = decide(doc, principal, 'tools', real);
  return verdict.allowed ? { allowed: true, realName: real } : verdict;
}
