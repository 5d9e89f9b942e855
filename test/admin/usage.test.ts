import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../admin/options.ts';
import { quotaSql } from '../../admin/quota-use.ts';
import { buildSql } from '../../admin/usage.ts';
import { mcpgw } from '../helpers/cli.ts';

describe('the SQL usage sends', () => {
  it('groups by server over the window by default', () => {
    expect(buildSql({ since: '24h', by: 'server' })).toBe(
      [
        'SELECT blob1 AS server,',
        '  SUM(_sample_interval) AS messages,',
        "  SUM(IF(blob6 = 'refused', _sample_interval, 0)) AS refused,",
        "  SUM(IF(blob6 = 'error', _sample_interval, 0)) AS errors,",
        '  SUM(_sample_interval * double1) / SUM(_sample_interval) AS avg_ms',
        'FROM mcp_gateway',
        "WHERE timestamp > NOW() - INTERVAL '24' HOUR",
        'GROUP BY server',
        'ORDER BY messages DESC',
        'LIMIT 100',
      ].join('\n'),
    );
  });

  it.each([
    [
      { since: '7d', by: 'tool' as const },
      "WHERE timestamp > NOW() - INTERVAL '7' DAY AND blob2 = 'tools/call'",
      'blob3 AS tool',
    ],
    [
      { since: '90m', by: 'principal' as const, server: 'openshift' },
      "INTERVAL '90' MINUTE AND blob1 = 'openshift'",
      'blob5 AS principal',
    ],
    [{ since: '1h', by: 'decision' as const }, "INTERVAL '1' HOUR", 'blob4 AS decision'],
    [{ since: '1d', by: 'portal' as const }, "INTERVAL '1' DAY", 'blob9 AS portal'],
  ])('%o', (query, where, select) => {
    const sql = buildSql(query);
    expect(sql).toContain(where);
    expect(sql).toContain(select);
  });

  it('refuses anything that is not a plain option value, so nothing can be injected', () => {
    expect(() => buildSql({ since: '24h', by: 'server', server: "x' OR 1=1 --" })).toThrow(UsageError);
    expect(() => buildSql({ since: '1 DAY', by: 'server' })).toThrow('--since');
    expect(() => buildSql({ since: '1h', by: 'blob1' as never })).toThrow('--by');
  });
});

/** A local server stands in for Cloudflare's SQL endpoint: the one place the real service cannot be reached. */
describe('mcpgw usage against a stand-in SQL API', { timeout: 120_000 }, () => {
  const requests: { method?: string; url?: string; auth?: string; body: string }[] = [];
  let base: string;
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    requests.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
    const data = body.includes('AS used')
      ? [
          { principal: 'alice', tool: 'pods_delete', used: 4 },
          { principal: 'bob', tool: 'echo', used: 7 },
        ]
      : [{ tool: 'echo', messages: 12, refused: 0, errors: 1, avg_ms: 3.456 }];
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ meta: [], data, rows: 1 }));
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const usage = (args: string[], env: Record<string, string>) => mcpgw(['usage', ...args], env);

  const env = () => ({
    CLOUDFLARE_ACCOUNT_ID: 'acc123',
    CLOUDFLARE_API_TOKEN: 'token-xyz',
    CLOUDFLARE_API_BASE_URL: base,
  });

  it('POSTs the SQL with the token and prints a table', async () => {
    const result = await usage(['--since', '7d', '--by', 'tool', '--explain'], env());
    expect(result.code).toBe(0);
    expect(requests.at(-1)).toMatchObject({
      method: 'POST',
      url: '/accounts/acc123/analytics_engine/sql',
      auth: 'Bearer token-xyz',
      body: buildSql({ since: '7d', by: 'tool' }),
    });
    expect(result.err).toContain('SELECT blob3 AS tool');
    expect(result.out).toContain('tool  messages  refused  errors  avg_ms');
    expect(result.out).toContain('echo  12        0        1       3.46');
    expect(result.out + result.err).not.toContain('token-xyz');
  });

  it('prints JSON for scripts', async () => {
    const result = await usage(['--json'], env());
    expect(JSON.parse(result.out)).toEqual([
      { tool: 'echo', messages: 12, refused: 0, errors: 1, avg_ms: 3.456 },
    ]);
  });

  it('sets each person’s calls in the current window beside their quota, fullest first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'usage-quotas-'));
    const quotas = [
      { tools: ['echo'], limit: 100, per: 'day', groups: ['viewers'] },
      { tools: ['pods_*'], limit: 5, per: 'hour' },
    ];
    writeFileSync(join(dir, 'ops.json'), JSON.stringify({ version: 1, name: 'ops', quotas }));
    const result = await usage(['--quotas', '--dir', dir], env());
    expect(result.code).toBe(0);
    expect(requests.slice(-2).map((r) => r.body)).toEqual([quotaSql('ops', 'day'), quotaSql('ops', 'hour')]);
    const lines = result.out
      .trim()
      .split('\n')
      .map((line) => line.trimEnd());
    expect(lines[0]).toMatch(/^server\s+principal\s+tool\s+use\s+for$/);
    expect(lines[1]).toMatch(/^ops\s+alice\s+pods_delete\s+4\/5 per hour\s+everyone$/);
    expect(lines[2]).toMatch(/^ops\s+bob\s+echo\s+7\/100 per day\s+group:viewers$/);
    expect(lines).toHaveLength(3);
  });

  it('says what to set when the credentials are missing', async () => {
    const result = await usage([], { CLOUDFLARE_ACCOUNT_ID: '', CLOUDFLARE_API_TOKEN: '' });
    expect(result.code).toBe(2);
    expect(result.err).toContain('set CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN');
  });
});
