import { z } from 'zod';

/** `servers[1].transport.command`: the path a person would type to find the field. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

/** One line per problem, each naming its field: `servers[0].name: required`. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const message = issue.message.endsWith('received undefined') ? 'required' : issue.message;
    return `${fieldPath(issue.path) || '(root)'}: ${message}`;
  });
}

/** A string setting that holds JSON, parsed: text that is not JSON is one issue saying what was expected. */
export function jsonText(expected: string) {
  return z.string().transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: `not JSON (${expected})` });
      return z.NEVER;
    }
  });
}
