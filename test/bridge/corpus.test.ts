import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Case, corpusFile, renderCorpus } from '../../scripts/corpus.ts';
import { bodyOf, runCorpus, summary } from '../corpus/run.ts';
import { fixture, startTestBridge, type TestBridge } from '../helpers/bridge.ts';

const cases = JSON.parse(readFileSync(corpusFile, 'utf8')) as Case[];

describe('the bad-input corpus', () => {
  it('is current: npm run corpus writes the same file', () => {
    expect(readFileSync(corpusFile, 'utf8')).toBe(renderCorpus());
    expect(cases.length).toBeGreaterThanOrEqual(300);
  });
});

/** The same corpus against the bridge (fixture server behind it): nothing crashes or hangs, every answer is clear. */
describe('the bad-input corpus at the bridge', () => {
  let bridge: TestBridge;

  beforeAll(async () => {
    bridge = await startTestBridge([{ name: 'fixture', transport: fixture, pool: 1 }]);
  });
  afterAll(() => bridge?.drain());

  it('crashes nothing, hangs nothing, and answers each clearly', { timeout: 300_000 }, async () => {
    const url = bridge.mcpUrl('fixture');
    const outcomes = await runCorpus(cases, (c) => {
      // fetch itself refuses TRACE; PURGE stands in as another method the bridge does not serve.
      const method = c.method === 'TRACE' ? 'PURGE' : (c.method ?? 'POST');
      const headers = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...c.headers,
      };
      const body = method === 'GET' || method === 'HEAD' || method === 'DELETE' ? undefined : bodyOf(c);
      return fetch(url, { method, headers, body });
    });
    console.log(summary('bridge', outcomes));
    expect(outcomes.filter((o) => !o.clear)).toEqual([]);
    const health = await fetch(new URL('/healthz', url));
    expect(health.status).toBe(200);
  });
});
