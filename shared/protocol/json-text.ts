/**
 * Reading JSON text without parsing all of it: where a value ends, and the members of an object
 * or the elements of an array as spans of the original text. The edge passes most answers on
 * as they came (a 1 MiB tool result, the kept entries of a 1,000-tool list): what is kept is
 * sliced, never re-serialised. Anything these do not read exactly as `JSON.parse` would (a
 * repeated key, a value cut short) comes back undefined, and the caller parses instead.
 */

const quote = 34;
const backslash = 92;
const openBrace = 123;
const closeBrace = 125;
const openBracket = 91;
const closeBracket = 93;
const comma = 44;
const colon = 58;

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

export function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** Just past the string whose opening quote is at `i`; -1 when the text ends first. */
function stringEnd(text: string, i: number): number {
  // The runtime's search finds the next quote; it ends the string unless an odd run of backslashes escapes it.
  for (let q = text.indexOf('"', i + 1); q !== -1; q = text.indexOf('"', q + 1)) {
    let k = q - 1;
    while (text.charCodeAt(k) === backslash) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1;
  }
  return -1;
}

/** Just past the value that starts at `i`; -1 when the text ends first. Brackets are counted, not matched. */
export function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === quote) return stringEnd(text, i);
  if (c !== openBrace && c !== openBracket) {
    let j = i;
    while (j < text.length) {
      const d = text.charCodeAt(j);
      if (d === comma || d === closeBrace || d === closeBracket || isSpace(d)) break;
      j++;
    }
    return j === i ? -1 : j;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const d = text.charCodeAt(j);
    if (d === quote) {
      const end = stringEnd(text, j);
      if (end < 0) return -1;
      j = end - 1;
    } else if (d === openBrace || d === openBracket) depth++;
    else if ((d === closeBrace || d === closeBracket) && --depth === 0) return j + 1;
  }
  return -1;
}

/** A value's place in the text: `text.slice(start, end)` is its JSON. */
export interface Span {
  start: number;
  end: number;
}

export interface Member extends Span {
  key: string;
}

/** The string at [start, end) (quotes included), decoded; undefined when it is not a valid JSON string. */
export function stringAt(text: string, start: number, end: number): string | undefined {
  if (text.charCodeAt(start) !== quote) return undefined;
  const inner = text.slice(start + 1, end - 1);
  if (!inner.includes('\\')) return inner;
  try {
    return JSON.parse(text.slice(start, end)) as string;
  } catch {
    return undefined;
  }
}

/**
 * What a reader does with one value: reads it itself and says where it ends, leaves it to be
 * skipped (undefined), or stops the reading there.
 */
export type Visit = number | undefined | 'stop';

/**
 * Reads the object at `start` in one pass, member by member: `visit` gets each decoded key and
 * where its value starts. Where the object ends; -1 when none starts there or it is not well
 * formed; 'stop' when a visit stopped it (what follows is not read).
 */
export function readObject(
  text: string,
  start: number,
  visit: (key: string, at: number) => Visit,
): number | 'stop' {
  if (text.charCodeAt(start) !== openBrace) return -1;
  let i = skipSpace(text, start + 1);
  if (text.charCodeAt(i) === closeBrace) return i + 1;
  for (;;) {
    if (text.charCodeAt(i) !== quote) return -1;
    const keyEnd = stringEnd(text, i);
    const key = keyEnd < 0 ? undefined : stringAt(text, i, keyEnd);
    if (key === undefined) return -1;
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== colon) return -1;
    const at = skipSpace(text, i + 1);
    const visited = visit(key, at);
    if (visited === 'stop') return 'stop';
    const end = visited ?? valueEnd(text, at);
    if (end < 0) return -1;
    i = skipSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === closeBrace) return i + 1;
    if (c !== comma) return -1;
    i = skipSpace(text, i + 1);
  }
}

/** Reads the array at `start` in one pass, as `readObject` does; `visit` reads or skips each element. */
export function readArray(text: string, start: number, visit: (at: number) => number | undefined): number {
  if (text.charCodeAt(start) !== openBracket) return -1;
  let i = skipSpace(text, start + 1);
  if (text.charCodeAt(i) === closeBracket) return i + 1;
  for (;;) {
    const end = visit(i) ?? valueEnd(text, i);
    if (end < 0) return -1;
    i = skipSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === closeBracket) return i + 1;
    if (c !== comma) return -1;
    i = skipSpace(text, i + 1);
  }
}

/**
 * The members of the object at `start`, in order, each key decoded with its value's span, and
 * where the object ends; undefined when no object starts there or it is not well formed.
 * `stop` ends the reading at the first key it accepts: that member's value (its end is -1), and
 * what follows, are not read, and the object's end is -1.
 */
export function objectMembers(
  text: string,
  start: number,
  stop?: (key: string) => boolean,
): { members: Member[]; end: number } | undefined {
  const members: Member[] = [];
  const end = readObject(text, start, (key, at) => {
    if (stop?.(key)) {
      members.push({ key, start: at, end: -1 });
      return 'stop';
    }
    const valueEnds = valueEnd(text, at);
    members.push({ key, start: at, end: valueEnds });
    return valueEnds;
  });
  if (end === 'stop') return { members, end: -1 };
  return end < 0 ? undefined : { members, end };
}

/**
 * The one member named `key`: undefined when there is none, null when the key repeats (JSON.parse
 * would take the last, so reading either is unsafe: the caller parses instead).
 */
export function only(members: readonly Member[], key: string): Member | undefined | null {
  let found: Member | undefined;
  for (const member of members) {
    if (member.key !== key) continue;
    if (found !== undefined) return null;
    found = member;
  }
  return found;
}

/**
 * A text made of spans of another text and new strings: what is kept of an answer, sent as
 * the bytes that came where they can be (`assemble` in received.ts), joined into a string otherwise.
 */
export interface Spliced {
  readonly pieces: readonly (string | Span)[];
}

/** The text with each span replaced by pieces (spans in order, not overlapping). */
export function splice(
  text: string,
  edits: readonly (Span & { pieces: readonly (string | Span)[] })[],
): Spliced {
  const pieces: (string | Span)[] = [];
  let at = 0;
  for (const edit of edits) {
    pieces.push({ start: at, end: edit.start }, ...edit.pieces);
    at = edit.end;
  }
  pieces.push({ start: at, end: text.length });
  return { pieces };
}

/** The pieces of `text` as one string. */
export function joined(text: string, spliced: Spliced): string {
  return spliced.pieces
    .map((piece) => (typeof piece === 'string' ? piece : text.slice(piece.start, piece.end)))
    .join('');
}

/**
 * The JSON-RPC message `text` with its top-level `id` replaced by `id`, the rest as it was: for a
 * relay that renumbers requests. Undefined when the text is not one object read exactly as
 * `JSON.parse` reads it, or has no single `id`.
 */
export function withId(text: string, id: string | number): string | undefined {
  const read = objectMembers(text, skipSpace(text, 0));
  if (read === undefined || skipSpace(text, read.end) !== text.length) return undefined;
  const member = only(read.members, 'id');
  if (!member) return undefined;
  return text.slice(0, member.start) + JSON.stringify(id) + text.slice(member.end);
}
