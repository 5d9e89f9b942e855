import {
  readArray,
  readObject,
  type Span,
  type Spliced,
  skipSpace,
  splice,
  stringAt,
  valueEnd,
} from '../protocol/json-text.ts';
import type { ServerDocument } from './document.ts';
import { decider, type Kind, type ListedTool, overridden, type Principal, toolsShown } from './policy.ts';

/**
 * The lists the policy filters, which a portal gathers from every member: the result's field that
 * holds the items, and the item's name.
 */
export const listShapes: Readonly<
  Record<string, { field: string; key: 'name' | 'uri' | 'uriTemplate'; kind: Kind }>
> = {
  'tools/list': { field: 'tools', key: 'name', kind: 'tools' },
  'prompts/list': { field: 'prompts', key: 'name', kind: 'prompts' },
  'resources/list': { field: 'resources', key: 'uri', kind: 'resources' },
  'resources/templates/list': { field: 'resourceTemplates', key: 'uriTemplate', kind: 'resources' },
};

export interface FilteredText {
  /** The answer as this principal may see it, as pieces of the server's text. */
  spliced: Spliced;
  /** Every item the server listed with a string name, parsed when asked (the tool snapshot). */
  listed: () => ListedTool[];
}

/** A list answer as read from its text: each item with a string name, and where the list and `cacheScope` are. */
export interface ListText {
  kind: Kind;
  /** The item's field that names it. */
  key: 'name' | 'uri' | 'uriTemplate';
  items: { name: string; span: Span }[];
  list: Span;
  scope: Span | undefined;
}

/**
 * A list answer's text filtered with the same predicate as `filterListResult`, without parsing
 * it: the kept items are sliced from the server's text, only an overridden tool is
 * re-serialised. Undefined when the text is not read exactly as JSON.parse would read it (a
 * repeated key, an item that is not an object, no list): the caller parses it instead.
 */
export function filterListText(
  doc: ServerDocument,
  principal: Principal,
  method: string,
  text: string,
): FilteredText | undefined {
  const read = readListText(text, method);
  if (read === undefined) return undefined;
  const parse = (span: Span) => JSON.parse(text.slice(span.start, span.end)) as ListedTool;
  const kept = new KeptItems(text);
  const shows = shownBy(doc, principal, read.kind);
  // One reader for every item's definition, parsed only when the policy asks (pins, an override).
  let item = { start: 0, end: 0 };
  let definition: ListedTool | undefined;
  const definitionOf = () => {
    definition ??= parse(item);
    return definition;
  };
  for (const { name, span } of read.items) {
    item = span;
    definition = undefined;
    const shown = shows(name, definitionOf);
    if (shown === 'as listed') kept.keep(span);
    else if (shown === 'overridden') kept.add(JSON.stringify(overridden(doc, definitionOf())));
    else kept.drop();
  }
  return {
    spliced: splicedList(text, read, kept.pieces()),
    listed: () => read.items.map(({ span }) => parse(span)),
  };
}

export type Shown = 'hidden' | 'as listed' | 'overridden';

/** A document's decision over a name in a list: tools as `tools/list` shows them, the rest allowed or not. */
export function shownBy(
  doc: ServerDocument,
  principal: Principal,
  kind: Kind,
): (name: string, definition: () => ListedTool) => Shown {
  if (kind === 'tools') return toolsShown(doc, principal);
  const allowed = decider(doc, principal, kind);
  return (name) => (allowed(name).allowed ? 'as listed' : 'hidden');
}

/** A list answer's text, read once (see `readList`); undefined for a method that lists nothing or text not read exactly. */
export function readListText(text: string, method: string): ListText | undefined {
  const shape = listShapes[method];
  const read = shape && readList(text, shape);
  return shape && read ? { kind: shape.kind, key: shape.key, ...read } : undefined;
}

/** The answer with its list made of `pieces`; a result filtered for one principal may be cached by that client only. */
export function splicedList(text: string, read: ListText, pieces: readonly (string | Span)[]): Spliced {
  const edits = [
    { start: read.list.start, end: read.list.end, pieces: ['[', ...pieces, ']'] },
    ...(read.scope ? [{ start: read.scope.start, end: read.scope.end, pieces: ['"private"'] }] : []),
  ].sort((a, b) => a.start - b.start);
  return splice(text, edits);
}

/**
 * The items kept of a list, in order, as pieces of its text: items kept side by side go as one
 * span, separators and all; an item re-serialised goes as its new text.
 */
export class KeptItems {
  private readonly text: string;
  private readonly kept: (string | Span)[] = [];
  private run: Span | undefined;

  constructor(text: string) {
    this.text = text;
  }

  keep(span: Span): void {
    if (this.run !== undefined && adjacent(this.text, this.run.end, span.start)) this.run.end = span.end;
    else this.put({ start: span.start, end: span.end });
  }

  add(json: string): void {
    this.put(json);
  }

  drop(): void {
    this.put(undefined);
  }

  /** What was kept, commas between. */
  pieces(): (string | Span)[] {
    this.put(undefined);
    return this.kept;
  }

  private put(next: Span | string | undefined): void {
    if (this.run !== undefined) this.push(this.run);
    this.run = undefined;
    if (typeof next === 'string') this.push(next);
    else this.run = next;
  }

  private push(piece: string | Span): void {
    if (this.kept.length > 0) this.kept.push(',');
    this.kept.push(piece);
  }
}

/** Whether only a comma (and space) lies between two items. */
function adjacent(text: string, end: number, start: number): boolean {
  const comma = skipSpace(text, end);
  return text.charCodeAt(comma) === 44 && skipSpace(text, comma + 1) === start;
}

/**
 * The list in a message, in one pass over its text: each item with a string name and its span,
 * the list's span, and `cacheScope`'s. Undefined for anything JSON.parse might read otherwise.
 */
function readList(
  text: string,
  shape: { field: string; key: string },
): Omit<ListText, 'kind' | 'key'> | undefined {
  const count = { result: 0, other: 0, list: 0, scope: 0 };
  const items: ListText['items'] = [];
  let list: Span | undefined;
  let scope: Span | undefined;
  // One visitor for every item's members (no closure per item): the name, and how often it came.
  let name: string | undefined;
  let names = 0;
  const itemMember = (key: string, at: number): number | undefined => {
    if (key !== shape.key) return undefined;
    names += 1;
    const end = valueEnd(text, at);
    name = end < 0 ? undefined : stringAt(text, at, end);
    return end;
  };
  const readItem = (at: number): number => {
    name = undefined;
    names = 0;
    const end = readObject(text, at, itemMember);
    if (end === 'stop' || end < 0 || names > 1) return -1;
    if (name !== undefined) items.push({ name, span: { start: at, end } });
    return end;
  };
  const resultMember = (key: string, at: number): number | undefined => {
    if (key === shape.field) {
      count.list += 1;
      const before = items.length;
      const known = recall(text, at, shape.key);
      if (known) {
        for (const item of known.items) items.push(shifted(item, at - known.at));
        list = { start: at, end: at + known.text.length };
      } else {
        list = { start: at, end: readArray(text, at, readItem) };
        if (list.end >= 0) remember(text, list, shape.key, items.slice(before));
      }
      return list.end;
    }
    if (key !== 'cacheScope') return undefined;
    count.scope += 1;
    scope = { start: at, end: valueEnd(text, at) };
    return scope.end;
  };
  const end = readObject(text, skipSpace(text, 0), (key, at) => {
    if (key === 'error' || key === 'method') count.other += 1;
    if (key !== 'result') return undefined;
    count.result += 1;
    const resultEnds = readObject(text, at, resultMember);
    return resultEnds === 'stop' ? -1 : resultEnds;
  });
  const whole = typeof end === 'number' && end >= 0 && skipSpace(text, end) === text.length;
  const once = count.result === 1 && count.other === 0 && count.list === 1 && count.scope <= 1;
  return whole && once && list ? { items, list, scope } : undefined;
}

interface ReadBefore {
  /** The list's own text, from its `[` to its `]`, and where it stood when it was read. */
  text: string;
  at: number;
  key: string;
  items: ListText['items'];
  /** The characters it keeps in memory. */
  holds: number;
}

/**
 * Lists read before, the latest first. A server lists the same tools to every session, so one
 * reading serves the isolate's later answers: a list whose text is the same to the character
 * reads the same (reading a list looks at nothing outside its brackets). Bounded in count and
 * characters; what is filtered, and for whom, is decided on every answer.
 */
const readBefore: ReadBefore[] = [];
const maxLists = 8;
const maxCharacters = 4 * 1024 * 1024;
/** A shorter list reads in microseconds: not worth a place. */
const minCharacters = 16 * 1024;

function recall(text: string, at: number, key: string): ReadBefore | undefined {
  // A slice compared whole is one memory comparison; startsWith walks it character by character.
  const index = readBefore.findIndex(
    (list) => list.key === key && text.slice(at, at + list.text.length) === list.text,
  );
  const found = readBefore[index];
  if (found && index > 0) readBefore.unshift(...readBefore.splice(index, 1));
  return found;
}

function remember(text: string, list: Span, key: string, items: ListText['items']): void {
  if (list.end - list.start < minCharacters || text.length > maxCharacters) return;
  // The slice may keep the whole answer alive (V8 slices point into their parent): count all of it.
  readBefore.unshift({
    text: text.slice(list.start, list.end),
    at: list.start,
    key,
    items,
    holds: text.length,
  });
  let characters = 0;
  const first = readBefore.findIndex((entry, i) => {
    characters += entry.holds;
    return i >= maxLists || characters > maxCharacters;
  });
  if (first !== -1) readBefore.length = first;
}

function shifted(item: ListText['items'][number], by: number): ListText['items'][number] {
  if (by === 0) return item;
  return { name: item.name, span: { start: item.span.start + by, end: item.span.end + by } };
}
