import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { configJsonSchema } from '../bridge/config.ts';
import { ServerDocumentSchema } from '../shared/policy/document.ts';

/** The generated JSON Schemas that editors and CI use. `npm run schemas` rewrites them. */
export const schemas: Record<string, () => unknown> = {
  'bridge-config.schema.json': configJsonSchema,
  'server.schema.json': () => z.toJSONSchema(ServerDocumentSchema, { io: 'input', unrepresentable: 'any' }),
};

export function render(make: () => unknown): string {
  return `${JSON.stringify(make(), null, 2)}\n`;
}

if (import.meta.main) {
  for (const [file, make] of Object.entries(schemas)) {
    writeFileSync(join(import.meta.dirname, '../schemas', file), render(make));
    console.log(`wrote schemas/${file}`);
  }
}
