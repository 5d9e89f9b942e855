import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fieldChanges } from '../../admin/plan.ts';
import { AssertionKeysSchema } from '../../workers/identity/assertion.ts';
import { repo } from '../helpers/bridge.ts';
import { mcpgw } from '../helpers/cli.ts';

// Each mcpgw call starts wrangler (2 to 5 s quiet, 30 s and more on a saturated machine): the bounds only catch hangs.
describe('mcpgw, against real wrangler with local KV', { timeout: 600_000 }, () => {
  let dir: string;
  let state: string;
  let local: string[];

  beforeAll(async () => {
    const root = await mkdtemp(join(tmpdir(), 'mcpgw-'));
    dir = join(root, 'servers');
    state = join(root, 'state');
    cpSync(join(repo, 'servers'), dir, { recursive: true });
    local = ['--local', '--persist-to', state, '--dir', dir];
  });

  it('validates the repository documents', async () => {
    const result = await mcpgw(['validate']);
    expect(result).toMatchObject({ code: 0, out: expect.stringContaining('document(s) valid') });
  });

  it('names the file and the field of every problem, and exits non-zero', async () => {
    const bad = join(dir, '..', 'bad');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'x.json'), JSON.stringify({ version: 1, name: 'y', upstream: { url: 'nope' } }));
    writeFileSync(join(bad, 'z.json'), '{ not json');
    const result = await mcpgw(['validate', '--dir', bad]);
    expect(result.code).toBe(1);
    expect(result.err).toContain('x.json: upstream.url: Invalid URL');
    expect(result.err).toContain('z.json: not valid JSON');
  });

  it('applies, shows no drift, then shows and applies exactly a field change', async () => {
    const first = await mcpgw(['apply', ...local, '--yes']);
    expect(first.code, `${first.err}\n${first.out}`).toBe(0);
    expect(first.out).toContain('+ server:everything');
    expect(first.out).toContain('applied: 3 written, 0 removed');
    expect((await mcpgw(['diff', ...local])).out).toContain('No changes: KV matches the files.');

    const file = join(dir, 'everything.json');
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    doc.policy.tools.deny = ['get-env', 'trigger-*'];
    writeFileSync(file, JSON.stringify(doc, null, 2));
    const diff = await mcpgw(['diff', ...local]);
    expect(diff.out).toContain('~ server:everything');
    expect(diff.out).toContain('policy.tools.deny[1]: (none) → "trigger-*"');
    const second = await mcpgw(['apply', ...local, '--yes']);
    expect(second.out).toContain('applied: 1 written, 0 removed');
  });

  it('refuses to apply without --yes when nobody can answer', async () => {
    const file = join(dir, 'everything.json');
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...doc, description: 'changed again' }));
    const result = await mcpgw(['apply', ...local]);
    expect(result.code).toBe(2);
    expect(result.err).toContain('pass --yes');
  });

  it('explains each command with an example, and refuses unpinned artifacts in strict mode', async () => {
    for (const command of ['validate', 'diff', 'apply', 'status', 'keys', 'usage', 'assertion-key']) {
      const help = await mcpgw([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.out, command).toMatch(
        new RegExp(`^mcpgw ${command}[\\s\\S]*Examples:\\n  npx mcpgw ${command}`),
      );
    }
    const strict = await mcpgw(['validate', '--strict', '--dir', join(repo, 'examples/servers')]);
    expect(strict.code).toBe(1);
    expect(strict.err).toContain(
      'fetch.json: provenance.artifact.image: "ghcr.io/stackloklabs/gofetch/server:1.0.2"',
    );
    expect(
      await mcpgw(['validate', '--strict', 'servers/everything.json', 'examples/servers/openshift.json']),
    ).toMatchObject({
      code: 0,
      out: '✓ 2 document(s) valid (strict)\n',
    });
  });

  it('validates a document that relies on the old default for prompts and resources, and says what it now means', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'legacy-')), 'legacy.json');
    writeFileSync(
      file,
      JSON.stringify({ version: 1, name: 'legacy', upstream: { url: 'https://b.example/legacy/mcp' } }),
    );
    const result = await mcpgw(['validate', file]);
    expect(result.code).toBe(0);
    expect(result.err).toContain('! ');
    expect(result.err).toContain('policy.prompts is absent: clients get no prompts of legacy');
    expect(result.err).toContain('Keep serving them all with "resources": {"allow": ["*"]}');
  });

  it('prints a new key for the edge’s assertions (one the Worker’s settings accept) and for sealing tokens, each time', async () => {
    const [first, second] = await Promise.all([mcpgw(['assertion-key']), mcpgw(['assertion-key'])]);
    const keys = [first, second].map((run) => AssertionKeysSchema.parse(run.out.trim())[0]);
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(keys[0]?.d).not.toBe(keys[1]?.d);
    expect(keys[0]?.kid).not.toBe(keys[1]?.kid);
    const [one, two] = await Promise.all([mcpgw(['token-key']), mcpgw(['token-key'])]);
    expect(one.out.trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(one.out).not.toBe(two.out);
  });

  it('answers a wrong command with usage and exit code 2', async () => {
    const result = await mcpgw(['frobnicate']);
    expect(result).toMatchObject({ code: 2, err: expect.stringContaining('unknown command "frobnicate"') });
  });
});

describe('field-level plan', () => {
  it('lists changed, added and removed paths', () => {
    expect(
      fieldChanges({ a: 1, b: [1, 2], c: { d: 'x' } }, { a: 2, b: [1], c: { d: 'x', e: true } }),
    ).toEqual(['a: 1 → 2', 'b[1]: 2 → (none)', 'c.e: (none) → true']);
  });
});
