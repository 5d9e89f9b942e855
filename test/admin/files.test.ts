import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { checkFiles, documentFiles } from '../../admin/files.ts';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'files-'));
  mkdirSync(dir, { recursive: true });
});

function write(name: string, content: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('server document files', () => {
  it('reads YAML beside JSON, and refuses YAML with a duplicate key', () => {
    write('a.json', { version: 1, name: 'a' });
    write('b.yaml', '# yaml-language-server: $schema=../schemas/server.schema.json\nversion: 1\nname: b\n');
    write('c.yml', 'version: 1\nname: c\nname: d\n');
    write('notes.txt', 'ignored');
    const checked = checkFiles(documentFiles(dir));
    expect(checked.documents.map((d) => d.document.name)).toEqual(['a', 'b']);
    expect(checked.problems).toEqual([
      expect.stringMatching(/c\.yml: not valid YML \(Map keys must be unique/),
    ]);
  });

  it('warns, without refusing, about a document that names no rule for prompts or resources', () => {
    const silent = write('silent.json', { version: 1, name: 'silent' });
    const explicit = write('explicit.json', {
      version: 1,
      name: 'explicit',
      policy: { prompts: {}, resources: { allow: ['*'] } },
    });
    const checked = checkFiles([silent, explicit]);
    expect(checked.problems).toEqual([]);
    expect(checked.warnings).toEqual([
      `${silent}: policy.prompts is absent: clients get no prompts of silent (default deny; until this release they got every one). Keep serving them all with "prompts": {"allow": ["*"]}; deny them on purpose with "prompts": {}`,
      `${silent}: policy.resources is absent: clients get no resources of silent (default deny; until this release they got every one). Keep serving them all with "resources": {"allow": ["*"]}; deny them on purpose with "resources": {}`,
    ]);
  });

  it('warns that an upstream URL in a document is deprecated, and still accepts it', () => {
    const old = write('old.json', {
      version: 1,
      name: 'old',
      upstream: { url: 'http://127.0.0.1:8080/old/mcp' },
      policy: { prompts: {}, resources: {} },
    });
    const checked = checkFiles([old]);
    expect(checked.problems).toEqual([]);
    expect(checked.documents[0]?.document.upstream?.url).toBe('http://127.0.0.1:8080/old/mcp');
    expect(checked.warnings).toEqual([
      `${old}: upstream.url is deprecated: it pins old to http://127.0.0.1:8080/old/mcp, wherever the bridge really is. Remove it: the edge reaches the bridge at BRIDGE_URL/<name>/mcp (wrangler.toml; npm start sets it)`,
    ]);
  });

  it('cross-checks names, duplicates and grants for groups that may not connect', () => {
    const files = [
      write('one.json', { version: 1, name: 'two' }),
      write('two.json', {
        version: 1,
        name: 'two',
        access: { groups: ['viewers'] },
        policy: { grants: [{ groups: ['operators'], tools: { allow: ['x'] } }] },
      }),
    ];
    expect(checkFiles(files).problems).toEqual([
      `${files[0]}: name "two" must match the file name (two.json)`,
      `${files[1]}: server "two" is also defined in ${files[0]}`,
      `${files[1]}: policy.grants[0].groups[0]: group "operators" may not connect (add it to access.groups)`,
    ]);
  });

  it('with the tools a server listed, warns about allow patterns and overrides that match none; strict refuses them', () => {
    const file = write('k8s.json', {
      version: 1,
      name: 'k8s',
      access: { groups: ['ops'] },
      policy: {
        tools: { allow: ['pods_*', 'pods_lst'], deny: ['never_listed'] },
        grants: [{ groups: ['ops'], tools: { allow: ['nodes_?'] } }],
        overrides: { pods_log: { name: 'read_log' }, pod_logs: { name: 'logs' } },
      },
    });
    const snapshots = new Map([
      ['k8s', { at: '2026-11-25T10:00:00Z', tools: [{ name: 'pods_list' }, { name: 'pods_log' }] }],
    ]);
    const dead = [
      `${file}: policy.tools.allow[1]: "pods_lst" matches none of the 2 tools k8s listed at 2026-11-25T10:00:00Z`,
      `${file}: policy.grants[0].tools.allow[0]: "nodes_?" matches none of the 2 tools k8s listed at 2026-11-25T10:00:00Z`,
      `${file}: policy.overrides.pod_logs: "pod_logs" matches none of the 2 tools k8s listed at 2026-11-25T10:00:00Z`,
    ];
    expect(checkFiles([file]).problems).toEqual([]);
    const warned = checkFiles([file], { snapshots });
    expect(warned.problems).toEqual([]);
    expect(warned.warnings).toEqual(expect.arrayContaining(dead));
    const strict = checkFiles([file], { snapshots, strict: true });
    expect(strict.problems).toEqual(expect.arrayContaining(dead));
    expect(strict.warnings.filter((w) => w.includes('matches none'))).toEqual([]);
  });

  it('refuses a server that acts as each person but lets anonymous callers in, or a portal that claims an identity', () => {
    const open = write('open.json', {
      version: 1,
      name: 'open',
      access: { anonymous: true },
      identity: { mode: 'token-exchange' },
    });
    const portal = write('both.json', {
      version: 1,
      name: 'both',
      portal: { members: ['open'] },
      identity: { mode: 'token-exchange' },
    });
    expect(checkFiles([open, portal]).problems).toEqual([
      `${open}: identity.mode: an anonymous caller is no one the server could act as: token-exchange needs a signed-in caller`,
      `${portal}: identity.mode: a portal calls nothing itself: each member's document says whose credential it uses`,
    ]);
  });

  it('refuses a per-user-oauth server that would send a gateway secret, or gives one endpoint of two', () => {
    const oauth = { mode: 'per-user-oauth', issuer: 'https://github.com/login/oauth', clientId: 'Iv1.x' };
    const exfiltrating = write('steal.json', {
      version: 1,
      name: 'steal',
      identity: { ...oauth, clientSecretEnv: 'BRIDGE_SIGNING_SECRET' },
    });
    const half = write('half.json', {
      version: 1,
      name: 'half',
      identity: { ...oauth, tokenEndpoint: 'https://github.com/login/oauth/access_token' },
    });
    const fine = write('fine.json', {
      version: 1,
      name: 'fine',
      identity: { ...oauth, clientSecretEnv: 'UPSTREAM_OAUTH_GITHUB', scopes: ['repo', 'read:org'] },
    });
    expect(checkFiles([exfiltrating, half, fine]).problems).toEqual([
      `${exfiltrating}: identity.clientSecretEnv: a Worker secret named UPSTREAM_OAUTH_<something>`,
      `${half}: identity: give both authorizationEndpoint and tokenEndpoint, or neither (discovered from the issuer)`,
    ]);
  });

  it('refuses a quota with no tool, no positive limit or an unknown window, naming the field', () => {
    const quota = { tools: ['pods_delete'], limit: 5, per: 'hour' };
    const bad = write('quota.json', {
      version: 1,
      name: 'quota',
      quotas: [quota, { ...quota, tools: [] }, { ...quota, limit: 0 }, { ...quota, per: 'week' }],
    });
    const portal = write('front.json', {
      version: 1,
      name: 'front',
      portal: { members: ['quota'] },
      quotas: [quota],
    });
    const problems = checkFiles([bad, portal]).problems.join('\n');
    expect(problems).toContain(
      "quotas: a portal counts nothing itself: set quotas in each member's document",
    );
    for (const field of ['quotas[1].tools', 'quotas[2].limit', 'quotas[3].per'])
      expect(problems).toContain(field);
    expect(problems).not.toContain('quotas[0]');
  });

  it('in strict mode, refuses documents whose artifact is not pinned', () => {
    const pinned = write('p.json', {
      version: 1,
      name: 'p',
      provenance: { artifact: { type: 'oci', image: `ghcr.io/a/p@sha256:${'ab'.repeat(32)}` } },
    });
    const tagged = write('t.json', {
      version: 1,
      name: 't',
      provenance: { artifact: { type: 'oci', image: 'ghcr.io/a/t:1.0' } },
    });
    expect(checkFiles([pinned, tagged]).problems).toEqual([]);
    expect(checkFiles([pinned, tagged], { strict: true }).problems).toEqual([
      `${tagged}: provenance.artifact.image: "ghcr.io/a/t:1.0" is not pinned by @sha256 digest`,
    ]);
  });

  it('checks a named portal: members of this set, behind the bridge, no portals; nothing renamed', () => {
    const rules = { prompts: {}, resources: {} };
    write('docs.json', { version: 1, name: 'docs', policy: rules });
    write('remote.json', {
      version: 1,
      name: 'remote',
      upstream: { url: 'http://127.0.0.1:1/remote/mcp' },
      policy: rules,
    });
    write('inner.json', { version: 1, name: 'inner', portal: { members: ['docs'] }, policy: rules });
    const ops = write('ops.json', {
      version: 1,
      name: 'ops',
      portal: { members: ['docs', 'missing', 'inner', 'remote'] },
      policy: { ...rules, tools: { allow: ['docs__*'] } },
    });
    const renames = write('renames.json', {
      version: 1,
      name: 'renames',
      portal: { members: ['docs', 'docs'], unprefixed: 'remote' },
      policy: { ...rules, overrides: { x: { name: 'y' } } },
    });
    const checked = checkFiles(documentFiles(dir));
    expect(checked.problems).toEqual([
      `${renames}: policy.overrides: a portal renames nothing: rename a tool in its server's document`,
      `${renames}: portal.unprefixed: "remote" is not a member of this portal`,
      `${renames}: portal.members[1]: "docs" is listed twice`,
      `${ops}: portal.members[1]: "missing" has no document here (servers/missing.json)`,
      `${ops}: portal.members[2]: "inner" is a portal itself; name its members instead`,
      `${ops}: portal.members[3]: "remote" has an upstream of its own: a portal's members are behind the bridge`,
    ]);
  });
});
