/**
 * Name patterns for allow and deny rules: `*` matches any run of characters (also none),
 * `?` exactly one; everything else matches itself, case-sensitively. No other syntax, so a
 * pattern can never mean more than it shows.
 */
export function globMatches(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let starP = -1;
  let starN = 0;
  while (n < name.length) {
    const c = pattern[p];
    if (c === '*') {
      starP = p++;
      starN = n;
    } else if (c !== undefined && (c === '?' || c === name[n])) {
      p += 1;
      n += 1;
    } else if (starP !== -1) {
      p = starP + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p += 1;
  return p === pattern.length;
}

const matchers = new Map<string, (name: string) => boolean>();
const maxMatchers = 10_000;

/**
 * A pattern made into a test once (a list asks the same patterns of every name): a literal
 * compares, `prefix*` and `*suffix` test an end, any other runs `globMatches`. Same answers.
 */
export function globMatcher(pattern: string): (name: string) => boolean {
  let test = matchers.get(pattern);
  if (test !== undefined) return test;
  const wild = (text: string) => text.includes('*') || text.includes('?');
  const inner = pattern.slice(1, -1);
  if (!wild(pattern)) test = (name) => name === pattern;
  else if (pattern.endsWith('*') && !wild(pattern.slice(0, -1))) {
    const prefix = pattern.slice(0, -1);
    test = (name) => name.startsWith(prefix);
  } else if (pattern.startsWith('*') && !wild(pattern.slice(1))) {
    const suffix = pattern.slice(1);
    test = (name) => name.endsWith(suffix);
  } else if (pattern.length > 1 && pattern.startsWith('*') && pattern.endsWith('*') && !wild(inner)) {
    test = (name) => name.includes(inner);
  } else test = (name) => globMatches(pattern, name);
  if (matchers.size >= maxMatchers) matchers.clear();
  matchers.set(pattern, test);
  return test;
}

export function anyMatches(patterns: readonly string[] | undefined, name: string): boolean {
  return patterns?.some((pattern) => globMatcher(pattern)(name)) ?? false;
}
