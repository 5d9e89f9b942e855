#!/usr/bin/env node
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sha256Hex } from '../shared/digest.ts';
import { ApiKeyRecordSchema, apiKeyKey, documentKey } from '../shared/storage.ts';
import { checkFiles, documentFiles } from './files.ts';
import { describePlan, plan } from './plan.ts';
import { type By, buildSql, UsageError as QueryError, runSql, sqlApiFromEnv, table } from './usage.ts';
import { type Target, WranglerKv } from './wrangler-kv.ts';

const help = `mcpgw: govern the MCP edge gateway's server documents and API keys (through wrangler).

Usage:
  mcpgw validate [files...]              check servers/*.json (or the files given) with the Worker's schema
  mcpgw diff   [--local|--remote]        what differs between the files and KV, field by field
  mcpgw apply  [--local|--remote] [--yes]  write only what changed (asks first unless --yes)
  mcpgw keys create --principal P [--groups a,b] [--expires 30d]   prints a new API key once
  mcpgw keys list  [--local|--remote]
  mcpgw keys revoke <key id> [--local|--remote]
  mcpgw usage [--since 24h] [--server S] [--by server|tool|principal|decision] [--json] [--explain]
        (reads Analytics Engine: CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN)

Options: --dir servers (documents folder), --persist-to DIR (local KV state), --binding GATEWAY_KV.
Examples:
  npx mcpgw validate
  npx mcpgw diff --remote
  npx mcpgw apply --local --persist-to .wrangler/state --yes
  npx mcpgw keys create --principal alice --groups viewers --expires 30d --remote`;

const options = {
  local: { type: 'boolean' },
  remote: { type: 'boolean' },
  yes: { type: 'boolean' },
  dir: { type: 'string', default: 'servers' },
  'persist-to': { type: 'string' },
  binding: { type: 'string', default: 'GATEWAY_KV' },
  principal: { type: 'string' },
  groups: { type: 'string', default: '' },
  expires: { type: 'string' },
  since: { type: 'string', default: '24h' },
  server: { type: 'string' },
  by: { type: 'string', default: 'server' },
  json: { type: 'boolean' },
  explain: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

class UsageError extends Error {}

function kvFor(values: Values): WranglerKv {
  if (values.local && values.remote) throw new UsageError('choose one of --local and --remote');
  const target: Target = values.remote
    ? { kind: 'remote' }
    : { kind: 'local', persistTo: values['persist-to'] };
  return new WranglerKv(target, values.binding);
}

function validate(files: string[], dir: string): ReturnType<typeof checkFiles> {
  const checked = checkFiles(files.length > 0 ? files : documentFiles(dir));
  for (const problem of checked.problems) console.error(`✗ ${problem}`);
  return checked;
}

async function changes(values: Values, positionals: string[]) {
  const checked = validate(positionals, values.dir);
  if (checked.problems.length > 0)
    throw new UsageError(`${checked.problems.length} problem(s): fix them first, nothing was compared`);
  const kv = kvFor(values);
  const desired = new Map(
    checked.documents.map(({ document }) => [documentKey(document.name), JSON.stringify(document)]),
  );
  process.stderr.write('reading KV… ');
  const current = await kv.getMany(await kv.list(documentKey('')));
  process.stderr.write(`${current.size} document(s)\n`);
  return { kv, desired, steps: plan(desired, current) };
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

async function apply(values: Values, positionals: string[]): Promise<void> {
  const { kv, desired, steps } = await changes(values, positionals);
  console.log(describePlan(steps));
  if (steps.length === 0) return;
  if (!values.yes) {
    if (!process.stdin.isTTY) throw new UsageError('not a terminal: pass --yes to apply this plan');
    const { createInterface } = await import('node:readline/promises');
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    const answer = await rl.question('Apply these changes? [y/N] ');
    rl.close();
    if (answer.trim().toLowerCase() !== 'y') throw new UsageError('not applied');
  }
  const writes = steps
    .filter((s) => s.kind !== 'remove')
    .map((s) => ({ key: s.key, value: desired.get(s.key) ?? '' }));
  writes.push({
    key: 'meta:applied',
    value: JSON.stringify({ commit: gitCommit() ?? null, at: new Date().toISOString() }),
  });
  await kv.putMany(writes);
  for (const step of steps.filter((s) => s.kind === 'remove')) await kv.delete(step.key);
  console.log(`applied: ${writes.length - 1} written, ${steps.length - writes.length + 1} removed`);
}

function expiry(text: string | undefined, now = Date.now()): string | undefined {
  if (text === undefined) return undefined;
  const relative = /^(\d+)([dhm])$/.exec(text);
  if (relative) {
    const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[relative[2] as 'd' | 'h' | 'm'];
    return new Date(now + Number(relative[1]) * unit).toISOString();
  }
  const absolute = Date.parse(text);
  if (Number.isNaN(absolute))
    throw new UsageError(`--expires: "${text}" is neither like 30d/12h/90m nor a date`);
  return new Date(absolute).toISOString();
}

async function keys(values: Values, [action, id]: string[]): Promise<void> {
  const kv = kvFor(values);
  if (action === 'create') {
    if (!values.principal) throw new UsageError('keys create needs --principal');
    const key = `mcpgw_${randomBytes(24).toString('base64url')}`;
    const hash = await sha256Hex(key);
    const groups = values.groups
      .split(',')
      .map((g) => g.trim())
      .filter(Boolean);
    const record = ApiKeyRecordSchema.parse({
      principal: values.principal,
      groups,
      createdAt: new Date().toISOString(),
      expiresAt: expiry(values.expires),
    });
    await kv.putMany([{ key: apiKeyKey(hash), value: JSON.stringify(record) }]);
    console.log(
      `key id ${hash.slice(0, 12)} for ${record.principal}${record.expiresAt ? `, expires ${record.expiresAt}` : ''}`,
    );
    console.log(`Authorization: Bearer ${key}`);
    console.error('(shown once: only its SHA-256 is stored)');
    return;
  }
  const all = await kv.list(apiKeyKey(''));
  if (action === 'list') {
    const records = await kv.getMany(all);
    for (const key of all) {
      const record = ApiKeyRecordSchema.safeParse(JSON.parse(records.get(key) ?? 'null'));
      const id = key.slice(apiKeyKey('').length, apiKeyKey('').length + 12);
      if (!record.success) console.log(`${id}  (unreadable record)`);
      else {
        const { principal, groups, expiresAt, revoked } = record.data;
        console.log(
          `${id}  ${principal}  [${groups.join(',')}]  ${revoked ? 'REVOKED' : expiresAt ? `expires ${expiresAt}` : 'no expiry'}`,
        );
      }
    }
    return;
  }
  if (action === 'revoke') {
    if (!id || id.length < 8)
      throw new UsageError('keys revoke needs a key id (at least 8 characters, from keys list)');
    const matches = all.filter((k) => k.startsWith(apiKeyKey(id)));
    if (matches.length !== 1) throw new UsageError(`key id ${id} matches ${matches.length} keys`);
    const key = matches[0] as string;
    const record = ApiKeyRecordSchema.parse(JSON.parse((await kv.get(key)) ?? 'null'));
    await kv.putMany([{ key, value: JSON.stringify({ ...record, revoked: true }) }]);
    console.log(`revoked ${id} (${record.principal})`);
    return;
  }
  throw new UsageError('keys: create, list or revoke');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    console.log(help);
    return values.help ? 0 : 2;
  }
  switch (command) {
    case 'validate': {
      const checked = validate(rest, values.dir);
      if (checked.problems.length === 0) console.log(`✓ ${checked.documents.length} document(s) valid`);
      return checked.problems.length === 0 ? 0 : 1;
    }
    case 'diff':
      console.log(describePlan((await changes(values, rest)).steps));
      return 0;
    case 'apply':
      await apply(values, rest);
      return 0;
    case 'keys':
      await keys(values, rest);
      return 0;
    case 'usage': {
      const sql = buildSql({ since: values.since, server: values.server, by: values.by as By });
      if (values.explain) console.error(`${sql}\n`);
      const rows = await runSql(sqlApiFromEnv(process.env), sql);
      console.log(values.json ? JSON.stringify(rows, null, 2) : table(rows));
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}" (validate, diff, apply, keys, usage)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    const usage = error instanceof UsageError || error instanceof QueryError;
    console.error(usage ? `mcpgw: ${error.message}` : error.message);
    if (usage) console.error('Run mcpgw --help for usage.');
    process.exit(usage ? 2 : 1);
  },
);
