import { createExecutionContext, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Case } from '../../scripts/corpus.ts';
import worker from '../../workers/index.ts';
import cases from '../corpus/cases.json' with { type: 'json' };
import { bodyOf, runCorpus, summary } from '../corpus/run.ts';
import { bearer, origin, putApiKey, putDocument, recorded, resetUpstream, upstream } from './helpers.ts';

/** Whether a URI a request forwarded could mean the denied resource to some server: any spelling of it. */
function namesSecret(uri: unknown): boolean {
  if (typeof uri !== 'string') return false;
  let text = uri;
  for (let i = 0; i < 3; i += 1) {
    try {
      text = decodeURIComponent(text);
    } catch {
      break;
    }
  }
  return text.toLowerCase().includes('secret');
}

/** The bad-input corpus against the real Worker (workerd), a recording upstream behind it. */
describe('the bad-input corpus at the edge', () => {
  it('crashes nothing, hangs nothing, lets no denied call through, and answers each clearly', {
    timeout: 300_000,
  }, async () => {
    await resetUpstream();
    await putApiKey('corpus-key', { principal: 'fuzzer', groups: ['fuzz'] });
    await putDocument('corpus', {
      version: 1,
      name: 'corpus',
      upstream: { url: `${upstream}/json/corpus/mcp` },
      access: { groups: ['fuzz'] },
      policy: {
        tools: { allow: ['echo'], deny: ['get-env'] },
        resources: { allow: ['demo://docs/*'], deny: ['demo://docs/secret*'] },
      },
    });
    const outcomes = await runCorpus(cases as Case[], (c) => {
      const method = c.method ?? 'POST';
      const headers = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...bearer('corpus-key'),
        ...c.headers,
      };
      const body = method === 'GET' || method === 'HEAD' ? undefined : bodyOf(c);
      // Not call(): a standing GET stream must be handed back open, not read to its end.
      return worker.fetch(
        new Request(`${origin}/corpus/mcp`, { method, headers, body }) as never,
        env,
        createExecutionContext(),
      );
    });
    const forwarded = (await recorded()).filter((r) => r.method === 'POST').map((r) => JSON.parse(r.body));
    const leaked = [
      ...forwarded.filter((m) => m.method === 'tools/call' && m.params?.name !== 'echo'),
      ...forwarded.filter((m) => namesSecret(m.params?.uri ?? m.params?.ref?.uri)),
    ];
    console.log(summary('edge', outcomes, leaked.length));
    expect(outcomes.length).toBeGreaterThanOrEqual(300);
    expect(leaked).toEqual([]);
    expect(outcomes.filter((o) => !o.clear)).toEqual([]);
  });
});
