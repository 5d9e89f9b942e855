import type { ServerDocument } from '../policy/document.ts';
import { filterListResult } from '../policy/gate.ts';
import {
  KeptItems,
  type ListText,
  listShapes,
  readListText,
  type Shown,
  shownBy,
  splicedList,
} from '../policy/list-text.ts';
import { type Kind, type ListedTool, overridden, type Principal } from '../policy/policy.ts';
import type { Span, Spliced } from '../protocol/json-text.ts';
import type { Members } from './gate.ts';
import { isMemberName, type Named, type Naming, namespaced } from './names.ts';
import { listsByMember, namespacedList } from './rewrite.ts';

/** What one member listed, under its own names, read only when asked (the tool snapshot). */
export interface MemberListed {
  doc: ServerDocument;
  listed: () => ListedTool[];
}

/** Where a merged list is read: its members' documents, the portal's own (it narrows), its naming. */
export interface PortalLists {
  members: Members;
  principal: Principal;
  naming: Naming;
  portal: ServerDocument | undefined;
}

/**
 * A portal's merged list as this caller may see it: split back per member, each part filtered by
 * that member's document (the same predicate as at the member's own URL), merged again under the
 * portal's names, then narrowed by the portal's own document. Undefined for a method that lists
 * nothing. `observe` gets each member's part (its tools, for the snapshot).
 */
export function filterPortalList(
  at: PortalLists,
  method: string,
  result: Record<string, unknown>,
  observe?: (part: MemberListed) => void,
): Record<string, unknown> | undefined {
  const field = listShapes[method]?.field;
  if (field === undefined) return undefined;
  const items: Record<string, unknown>[] = [];
  for (const [member, list] of listsByMember(at.naming, method, result)) {
    const doc = at.members.get(member);
    if (doc === undefined) continue;
    if (method === 'tools/list') observe?.({ doc, listed: () => list.filter(named) });
    const kept = filterListResult(doc, at.principal, method, { [field]: list });
    items.push(...namespacedList(at.naming, member, method, kept));
  }
  // Filtered for one caller: cached by that client only, whatever the members said.
  const merged = { ...result, [field]: items, ...('cacheScope' in result ? { cacheScope: 'private' } : {}) };
  return narrows(at, method)
    ? filterListResult(at.portal as ServerDocument, at.principal, method, merged)
    : merged;
}

/**
 * The same as `filterPortalList`, read from the answer's text: an item whose member, document
 * and portal keep it as it came goes as the bytes that came; only an item renamed on the way
 * (overridden, or named otherwise by the portal) is re-serialised. Undefined where the text is
 * not read exactly as JSON.parse would read it: the caller parses it instead.
 */
export function filterPortalListText(
  at: PortalLists,
  method: string,
  text: string,
): { spliced: Spliced; parts: MemberListed[] } | undefined {
  const read = readListText(text, method);
  if (read === undefined) return undefined;
  const merged = new MergedList(at, method, read, text);
  for (const item of read.items) merged.place(item);
  return {
    spliced: splicedList(text, read, merged.pieces()),
    parts: method === 'tools/list' ? merged.parts() : [],
  };
}

type Item = { name: string; span: Span };

/** One member's part of a merged list: its document's decision, what it kept, every item it listed. */
interface Part {
  doc: ServerDocument;
  shows: (name: string, definition: () => ListedTool) => Shown;
  kept: KeptItems;
  listed: Item[];
}

/** A merged list's items placed one by one: each member's part in the order members first appear, as the parsed filter merges them. */
class MergedList {
  private readonly at: PortalLists;
  private readonly kind: Kind;
  private readonly key: string;
  private readonly text: string;
  private readonly groups = new Map<string, Part | undefined>();
  private readonly portalShows: ((name: string, definition: () => ListedTool) => Shown) | undefined;
  private readonly nameOf: (member: string, own: string) => string;
  private readonly readOf: (name: string) => Named | undefined;
  /** Every member's names prefixed: a name read back and prefixed again is the name it was. */
  private readonly roundTrips: boolean;
  /** The last member read, its part, and the prefix its names have (a member name has no `_`: the first `__` ends it). */
  private last: { member: string; part: Part | undefined; prefix: string | undefined } | undefined;
  /** The item being placed, and its member's own name for it. */
  private placing: Item = { name: '', span: { start: 0, end: 0 } };
  private ownName = '';

  constructor(at: PortalLists, method: string, { kind, key }: ListText, text: string) {
    this.at = at;
    this.kind = kind;
    this.key = key;
    this.text = text;
    this.portalShows = narrows(at, method)
      ? shownBy(at.portal as ServerDocument, at.principal, kind)
      : undefined;
    this.nameOf = key === 'name' ? at.naming.name : at.naming.uri;
    this.readOf = key === 'name' ? at.naming.ofName : at.naming.ofUri;
    this.roundTrips = at.naming.unprefixed === undefined;
  }

  place(listed: Item): void {
    const named = this.read(listed.name);
    const part = named && this.partOf(named.member);
    if (named === undefined || part === undefined) return;
    part.listed.push(listed);
    this.placing = listed;
    this.ownName = named.name;
    const shown = part.shows(named.name, this.own);
    if (shown === 'hidden') part.kept.drop();
    else
      this.underPortal(
        part,
        listed,
        named,
        shown === 'overridden' ? overridden(part.doc, this.own()) : undefined,
      );
  }

  /** The item being placed under its member's own name (one reader for every item, parsed only when asked). */
  private readonly own = (): ListedTool =>
    ({ ...this.parse(this.placing.span), [this.key]: this.ownName }) as ListedTool;

  /** A name read back; a run of one member's names is read by its prefix, as `memberOf` would read it. */
  private read(name: string): Named | undefined {
    const prefix = this.last?.prefix;
    if (this.key === 'name' && prefix !== undefined && name.length > prefix.length && name.startsWith(prefix))
      return { member: this.last?.member as string, name: name.slice(prefix.length) };
    return this.readOf(name);
  }

  /** A kept item under its portal name, narrowed by the portal's own document; re-serialised only if it changed. */
  private underPortal(part: Part, listed: Item, named: Named, memberItem: ListedTool | undefined): void {
    const own = this.own;
    const portalName =
      memberItem === undefined && this.roundTrips
        ? listed.name
        : this.nameOf(named.member, memberItem?.name ?? named.name);
    let item =
      memberItem !== undefined || portalName !== listed.name
        ? ({ ...(memberItem ?? own()), [this.key]: portalName } as ListedTool)
        : undefined;
    const definition = () => {
      item ??= this.parse(listed.span);
      return item;
    };
    const byPortal = this.portalShows?.(portalName, definition);
    if (byPortal === 'hidden') part.kept.drop();
    else if (byPortal === 'overridden')
      part.kept.add(JSON.stringify(overridden(this.at.portal as ServerDocument, definition())));
    else if (item === undefined) part.kept.keep(listed.span);
    else part.kept.add(JSON.stringify(item));
  }

  /** The kept items of every part, in order, commas between. */
  pieces(): (string | Span)[] {
    const kept = this.present().map((part) => part.kept.pieces());
    return kept
      .filter((pieces) => pieces.length > 0)
      .flatMap((pieces, i) => (i === 0 ? pieces : [',', ...pieces]));
  }

  /** Each member's part, its items under their own names (read when asked). */
  parts(): MemberListed[] {
    return this.present().map((part) => ({
      doc: part.doc,
      listed: () =>
        part.listed.map(({ name, span }) => ({
          ...this.parse(span),
          name: (this.readOf(name) as Named).name,
        })),
    }));
  }

  /** A merged list comes member by member: a part is looked up once per run of its items. */
  private partOf(member: string): Part | undefined {
    if (this.last?.member !== member)
      this.last = {
        member,
        part: this.part(member),
        prefix: isMemberName(member) ? namespaced(member, '') : undefined,
      };
    return this.last.part;
  }

  private part(member: string): Part | undefined {
    if (!this.groups.has(member)) {
      const doc = this.at.members.get(member);
      const part = doc && {
        doc,
        shows: shownBy(doc, this.at.principal, this.kind),
        kept: new KeptItems(this.text),
        listed: [],
      };
      this.groups.set(member, part);
    }
    return this.groups.get(member);
  }

  private present(): Part[] {
    return [...this.groups.values()].filter((part): part is Part => part !== undefined);
  }

  private parse(span: Span): ListedTool {
    return JSON.parse(this.text.slice(span.start, span.end)) as ListedTool;
  }
}

/** A named portal narrows its tools and prompts by their portal names, with the same predicate. */
function narrows(at: PortalLists, method: string): boolean {
  return at.portal !== undefined && (method === 'tools/list' || method === 'prompts/list');
}

function named(item: Record<string, unknown>): item is ListedTool {
  return typeof item.name === 'string';
}
