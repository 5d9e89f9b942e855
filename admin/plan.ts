/** What `apply` would change in KV, computed from the files and what KV holds (pure). */
export interface Change {
  key: string;
  kind: 'add' | 'change' | 'remove';
  fields: string[];
}

function flatten(value: unknown, path = '', out = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value)
      ? value.map((v, i) => [`[${i}]`, v] as const)
      : Object.entries(value);
    if (entries.length === 0) out.set(path, JSON.stringify(value));
    for (const [key, v] of entries)
      flatten(v, key.startsWith('[') ? `${path}${key}` : path ? `${path}.${key}` : key, out);
  } else {
    out.set(path, JSON.stringify(value));
  }
  return out;
}

/** Field-level differences: `policy.tools.allow[1]: "pods_log" → "pods_top"`. */
export function fieldChanges(before: unknown, after: unknown): string[] {
  const a = flatten(before);
  const b = flatten(after);
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  return paths.flatMap((p) =>
    a.get(p) === b.get(p) ? [] : [`${p}: ${a.get(p) ?? '(none)'} → ${b.get(p) ?? '(none)'}`],
  );
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function plan(desired: Map<string, string>, current: Map<string, string>): Change[] {
  const changes: Change[] = [];
  for (const [key, value] of desired) {
    const now = current.get(key);
    if (now === undefined) changes.push({ key, kind: 'add', fields: [] });
    else {
      const fields = fieldChanges(parse(now), parse(value));
      if (fields.length > 0) changes.push({ key, kind: 'change', fields });
    }
  }
  for (const key of current.keys()) if (!desired.has(key)) changes.push({ key, kind: 'remove', fields: [] });
  return changes.sort((x, y) => x.key.localeCompare(y.key));
}

export function describePlan(changes: Change[]): string {
  if (changes.length === 0) return 'No changes: KV matches the files.';
  const sign = { add: '+', change: '~', remove: '-' };
  return changes
    .map((c) => [`${sign[c.kind]} ${c.key}`, ...c.fields.map((f) => `    ${f}`)].join('\n'))
    .join('\n');
}
