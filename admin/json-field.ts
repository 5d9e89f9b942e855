/**
 * One top-level field of a JSON file set, the rest of the text left byte for byte: a generated
 * field (`mcpgw pin`'s pins) shows up in review as itself, not as the file reformatted.
 */

/** The index just past the string that starts at `i` (a `"`). */
function stringEnd(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
  return j + 1;
}

/** The index just past the JSON value that starts at `i`. */
function valueEnd(text: string, i: number): number {
  if (text[i] === '"') return stringEnd(text, i);
  if (text[i] !== '{' && text[i] !== '[') {
    let j = i;
    while (j < text.length && !/[\s,}\]]/.test(text[j] ?? '')) j++;
    return j;
  }
  let depth = 0;
  let j = i;
  while (j < text.length) {
    const c = text[j];
    if (c === '"') {
      j = stringEnd(text, j);
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    j++;
    if (depth === 0) return j;
  }
  return j;
}

/** Where the top-level field `key`'s value is in a JSON object's text. */
function fieldValue(text: string, key: string): { start: number; end: number } | undefined {
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      const end = stringEnd(text, i);
      let colon = end;
      while (/\s/.test(text[colon] ?? '')) colon++;
      // At depth 1, a string followed by ':' is a key of the document itself.
      if (depth === 1 && text[colon] === ':' && JSON.parse(text.slice(i, end)) === key) {
        let start = colon + 1;
        while (/\s/.test(text[start] ?? '')) start++;
        return { start, end: valueEnd(text, start) };
      }
      i = end;
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    i++;
  }
  return undefined;
}

/** The JSON object text with `key` set to `value` (two-space indentation for what is new). */
export function withField(text: string, key: string, value: unknown): string {
  const json = JSON.stringify(value, null, 2).replace(/\n/g, '\n  ');
  const found = fieldValue(text, key);
  let edited: string;
  if (found !== undefined) edited = text.slice(0, found.start) + json + text.slice(found.end);
  else {
    const close = text.lastIndexOf('}');
    edited = `${text.slice(0, close).trimEnd()},\n  ${JSON.stringify(key)}: ${json}\n}${text.slice(close + 1)}`;
  }
  const expected = JSON.stringify({ ...JSON.parse(text), [key]: value });
  // Whatever the file's shape, the result is exactly the document with the field set.
  if (JSON.stringify(JSON.parse(edited)) === expected) return edited;
  return `${JSON.stringify({ ...JSON.parse(text), [key]: value }, null, 2)}\n`;
}
