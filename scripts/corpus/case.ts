/**
 * The bad-input corpus (test/corpus/cases.json): requests no gateway should crash, hang or be
 * fooled by. Generated so that families stay complete and reviewable; `npm run corpus`
 * rewrites the file and a test fails when it is stale. Run against the Worker
 * (test/workers/corpus.test.ts) and the bridge (test/bridge/corpus.test.ts).
 */
export interface Case {
  family: string;
  name: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  bodyBase64?: string;
  /** Large bodies are built when the case runs: prefix + text × times + suffix. */
  bodyRepeat?: { prefix: string; text: string; times: number; suffix: string };
}

export const call = (name: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {}, ...extra } });
export const valid = call('echo');
