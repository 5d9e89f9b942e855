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
  if (!mayConnect(doc, principal)) return { allowed: false, reason: 'no_access' };
  const rules = rulesFor(doc, principal, kind);
  if (kind === 'resources') return decideUri(rules, name);
  if (rules.some((rule) => anyMatches(rule.deny, name))) return { allowed: false, reason: 'denied' };
  if (rules.some((rule) => anyMatches(rule.allow, name))) return allow;
  return { allowed: false, reason: 'not_allowed' };
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

/** The name clients see for a real tool name. */
export function exposedName(doc: ServerDocument, real: string): string {
  return doc.policy.overrides[real]?.name ?? real;
}

/** The real name behind an exposed one; a real name hidden by a rename is not callable by it. */
export function realName(doc: ServerDocument, exposed: string): string | undefined {
  for (const [real, override] of Object.entries(doc.policy.overrides)) {
    if ((override.name ?? real) === exposed) return real;
  }
  const renamedAway = doc.policy.overrides[exposed]?.name;
  return renamedAway !== undefined && renamedAway !== exposed ? undefined : exposed;
}

export interface ListedTool {
  name: string;
  description?: string;
  [key: string]: unknown;
}

/** What `tools/list` shows this principal: allowed tools as reviewed (pins) only, under their exposed names. */
export function visibleTools<T extends ListedTool>(
  doc: ServerDocument,
  principal: Principal,
  tools: readonly T[],
): T[] {
  return tools.flatMap((tool) => {
    // A tool whose name another tool was renamed to is shadowed: that name calls the other one.
    if (realName(doc, exposedName(doc, tool.name)) !== tool.name) return [];
    if (!decide(doc, principal, 'tools', tool.name).allowed) return [];
    // A tool that is not as reviewed is not shown: its description is what could mislead.
    if (!passesPins(doc, pinState(doc, tool.name, tool))) return [];
    const override = doc.policy.overrides[tool.name];
    if (override === undefined) return [tool];
    return [
      {
        ...tool,
        name: override.name ?? tool.name,
        ...(override.description ? { description: override.description } : {}),
      },
    ];
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
