import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Case } from './corpus/case.ts';
import { contentTypes, headerMismatch, httpMethods, sessions } from './corpus/http.ts';
import {
  batches,
  duplicateKeys,
  ids,
  large,
  malformed,
  methods,
  nesting,
  paramShapes,
  truncated,
  values,
  wrongTypes,
} from './corpus/messages.ts';
import { deniedResourceVariants, denyVariants } from './corpus/policy.ts';

export type { Case } from './corpus/case.ts';

/** The bad-input corpus, its families in the order the file lists them (scripts/corpus/case.ts says what it is for). */
export function corpus(): Case[] {
  return [
    ...truncated(),
    ...malformed(),
    ...duplicateKeys(),
    ...nesting(),
    ...large(),
    ...batches(),
    ...wrongTypes(),
    ...ids(),
    ...methods(),
    ...denyVariants(),
    ...deniedResourceVariants(),
    ...headerMismatch(),
    ...sessions(),
    ...contentTypes(),
    ...httpMethods(),
    ...paramShapes(),
    ...values(),
  ];
}

export const corpusFile = join(import.meta.dirname, '../test/corpus/cases.json');

export function renderCorpus(): string {
  return `${JSON.stringify(corpus(), null, 1)}\n`;
}

if (import.meta.main) {
  writeFileSync(corpusFile, renderCorpus());
  console.log(`wrote ${corpus().length} cases to test/corpus/cases.json`);
}
