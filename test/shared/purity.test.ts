import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../shared');
const importPattern = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('shared/ is runtime-neutral', () => {
  const files = sources(root);

  it('has sources to check', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files.map((f) => [f.slice(root.length + 1), f]))(
    '%s imports nothing from node:, cloudflare:, bridge/ or workers/',
    (_, file) => {
      const text = readFileSync(file, 'utf8');
      const specifiers = [...text.matchAll(importPattern)].map((m) => m[1] ?? m[2] ?? '');
      const forbidden = specifiers.filter((s) => /^(node:|cloudflare:)|(^|\/)(bridge|workers)\//.test(s));
      expect(forbidden).toEqual([]);
      expect(text).not.toMatch(/\bprocess\.|\bBuffer\b|\brequire\(/);
    },
  );
});
