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

export function anyMatches(patterns: readonly string[] | undefined, name: string): boolean {
  return patterns?.some((pattern) => globMatches(pattern, name)) ?? false;
}
