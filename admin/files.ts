import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseDocument, type ServerDocument } from '../shared/document.ts';

export interface Checked {
  documents: { file: string; document: ServerDocument }[];
  problems: string[];
}

export function documentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(dir, f));
}

/** Cross-checks no single document can make: file names, duplicates, grants nobody can use. */
function crossCheck(file: string, doc: ServerDocument, seen: Map<string, string>): string[] {
  const problems: string[] = [];
  if (basename(file) !== `${doc.name}.json`)
    problems.push(`${file}: name "${doc.name}" must match the file name (${doc.name}.json)`);
  const other = seen.get(doc.name);
  if (other !== undefined) problems.push(`${file}: server "${doc.name}" is also defined in ${other}`);
  seen.set(doc.name, file);
  doc.policy.grants.forEach((grant, i) => {
    grant.groups.forEach((group, j) => {
      if (!doc.access.groups.includes(group) && !doc.access.anonymous) {
        problems.push(
          `${file}: policy.grants[${i}].groups[${j}]: group "${group}" may not connect (add it to access.groups)`,
        );
      }
    });
  });
  return problems;
}

/** Every document parsed with the Worker's own schema; problems name file and field path. */
export function checkFiles(files: string[]): Checked {
  const documents: Checked['documents'] = [];
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      problems.push(`${file}: not valid JSON (${(error as Error).message})`);
      continue;
    }
    const parsed = parseDocument(json);
    if (!parsed.ok) {
      problems.push(...parsed.problems.map((p) => `${file}: ${p}`));
      continue;
    }
    problems.push(...crossCheck(file, parsed.document, seen));
    documents.push({ file, document: parsed.document });
  }
  return { documents, problems };
}
