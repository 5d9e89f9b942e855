#!/usr/bin/env node
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import { canonicalJson } from '../shared/protocol/canonical-json.ts';
import { runSql, SqlApiError } from '../shared/storage/analytics.ts';
import { type ToolSnapshot, ToolSnapshotSchema, toolsKey } from '../shared/storage/kv.ts';
import { type Applied, appliedKey, applyPlan, gitState, planAgainst, readDocuments } from './apply.ts';
import { newAssertionKey } from './assertion-key.ts';
import { listConnections, newTokenKey, revokeConnections } from './connections.ts';
import { checkFiles, documentFiles } from './files.ts';
import { commandHelp, commands, help } from './help.ts';
import { createKey, expiry, KeyError, listKeys, revokeKey } from './keys.ts';
import { options, UsageError, type Values } from './options.ts';
import { describePlan } from './plan.ts';
import {
  changePrincipal,
  listGrants,
  listPrincipals,
  PrincipalError,
  principal,
  removeGroup,
  restore,
  restoreGroup,
  revoke,
  revokeGrants,
} from './principals.ts';
import { quotaSql, quotaUse, quotaWindows } from './quota-use.ts';
import { describeDrift, driftOf, pinsFrom, writePins } from './tool-pins.ts';
import { type By, buildSql, sqlApiFromEnv, table } from './usage.ts';
import { type Target, WranglerKv } from './wrangler-kv.ts';

function kvTarget(values: Values): Target {
  if (values.local && values.remote) throw new UsageError('choose one of --local and --remote');
  return values.remote ? { kind: 'remote' } : { kind: 'local', persistTo: values['persist-to'] };
}

function kvFor(values: Values): WranglerKv {
  return new WranglerKv(kvTarget(values), values.binding);
}

/** The tool lists these servers last reported, in one wrangler call (its start-up is the slow part). */
async function snapshots(kv: WranglerKv, servers: string[]): Promise<Map<string, ToolSnapshot>> {
  const found = new Map<string, ToolSnapshot>();
  for (const [key, text] of await kv.getMany(servers.map(toolsKey))) {
    const parsed = ToolSnapshotSchema.safeParse(JSON.parse(text));
    if (parsed.success) found.set(key.slice(toolsKey('').length), parsed.data);
  }
  return found;
}

/** With `readSnapshots`, also checks allow patterns against the tools servers reported (KV). */
async function validate(values: Values, files: string[], readSnapshots: boolean) {
  const paths = files.length > 0 ? files : documentFiles(values.dir);
  // A document is named as its file (a cross-check refuses it otherwise): no parse before the read.
  const named = paths.map((file) => basename(file, extname(file)));
  const checked = checkFiles(paths, {
    strict: values.strict,
    snapshots: readSnapshots ? await snapshots(kvFor(values), named) : undefined,
  });
  for (const problem of checked.problems) console.error(`✗ ${problem}`);
  for (const warning of checked.warnings) console.error(`! ${warning}`);
  return checked;
}

async function changes(values: Values, files: string[]) {
  const kv = kvFor(values);
  // KV's documents are read while the files are checked (remote; locally one after the other): each read is a wrangler start (seconds).
  const reading = readDocuments(kv);
  reading.catch(() => {}); // awaited below, unless the files have problems
  const checked = await validate(values, files, true);
  if (checked.problems.length > 0)
    throw new UsageError(`${checked.problems.length} problem(s): fix them first, nothing was compared`);
  const current = await reading;
  process.stderr.write(`read ${current.size} document(s) from KV\n`);
  const planned = planAgainst(
    checked.documents.map((d) => d.document),
    current,
  );
  return { kv, planned };
}

async function confirm(values: Values): Promise<void> {
  if (values.yes) return;
  if (!process.stdin.isTTY) throw new UsageError('not a terminal: pass --yes to apply this plan');
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question('Apply these changes? [y/N] ');
  rl.close();
  if (answer.trim().toLowerCase() !== 'y') throw new UsageError('not applied');
}

async function apply(values: Values, files: string[]): Promise<void> {
  const { kv, planned } = await changes(values, files);
  console.log(describePlan(planned.steps));
  if (planned.steps.length === 0) return;
  await confirm(values);
  const applied = await applyPlan(kv, planned);
  const removed = planned.steps.filter((s) => s.kind === 'remove').length;
  console.log(
    `applied: ${planned.steps.length - removed} written, ${removed} removed (commit ${applied.commit ?? 'unknown'}${applied.dirty ? ', with uncommitted changes' : ''})`,
  );
}

async function status(values: Values): Promise<void> {
  const kv = kvFor(values);
  const text = await kv.get(appliedKey);
  if (text === undefined) {
    console.log('Nothing applied yet by mcpgw (no meta:applied in KV).');
    return;
  }
  const applied = JSON.parse(text) as Partial<Applied>;
  console.log(
    `live: commit ${applied.commit ?? 'unknown'}${applied.dirty ? ' (+ uncommitted changes)' : ''}`,
  );
  console.log(
    `applied at ${applied.at}, ${applied.servers?.length ?? '?'} server(s): ${applied.servers?.join(', ')}`,
  );
  const head = gitState()?.commit;
  if (head !== undefined && head !== applied.commit) console.log(`here: HEAD is ${head} (not applied)`);
  const { planned } = await changes(values, []);
  console.log(
    planned.steps.length === 0 ? 'KV matches the files.' : `drift:\n${describePlan(planned.steps)}`,
  );
}

async function keys(values: Values, [action, id]: string[]): Promise<void> {
  const kv = kvFor(values);
  if (action === 'create') {
    if (!values.principal) throw new UsageError('keys create needs --principal');
    const groups = values.groups
      .split(',')
      .map((g) => g.trim())
      .filter(Boolean);
    const created = await createKey(kv, {
      principal: values.principal,
      groups,
      expiresAt: expiry(values.expires),
    });
    const { principal, expiresAt } = created.record;
    console.log(`key id ${created.id} for ${principal}${expiresAt ? `, expires ${expiresAt}` : ''}`);
    console.log(`Authorization: Bearer ${created.key}`);
    console.error('(shown once: only its SHA-256 is stored)');
  } else if (action === 'list') {
    for (const { id, record } of await listKeys(kv)) {
      if (record === undefined) console.log(`${id}  (unreadable record)`);
      else {
        const { principal, groups, expiresAt, revoked } = record;
        const state = revoked ? 'REVOKED' : expiresAt ? `expires ${expiresAt}` : 'no expiry';
        console.log(`${id}  ${principal}  [${groups.join(',')}]  ${state}`);
      }
    }
  } else if (action === 'revoke') {
    const record = await revokeKey(kv, id ?? '');
    console.log(`revoked ${id} (${record.principal})`);
  } else throw new UsageError('keys: create, list or revoke');
}

function describePrincipal(record: NonNullable<Awaited<ReturnType<typeof principal>>>): string {
  const removed = record.removedGroups.length > 0 ? `  removed: [${record.removedGroups.join(',')}]` : '';
  const state = record.revoked ? 'REVOKED' : `signed in ${record.signedInAt ?? 'never'}`;
  return `${record.principal}  [${record.groups.join(',')}]${removed}  ${state}`;
}

async function principals(values: Values, [action, name, group]: string[]): Promise<void> {
  const kv = kvFor(values);
  if (action === 'list') {
    for (const record of await listPrincipals(kv)) console.log(describePrincipal(record));
    return;
  }
  if (!name) throw new UsageError(`principals ${action ?? ''}: name a principal`);
  const oauthKv = () => new WranglerKv(kvTarget(values), values['oauth-binding']);
  if (action === 'show') {
    const record = await principal(kv, name);
    console.log(record ? describePrincipal(record) : `${name}: has not signed in`);
    await grants(values, ['list', name]);
  } else if (action === 'revoke') {
    console.log(describePrincipal(await changePrincipal(kv, name, revoke)));
    console.log(`${await revokeGrants(oauthKv(), name)} grant(s) deleted`);
  } else if (action === 'restore') {
    console.log(describePrincipal(await changePrincipal(kv, name, restore)));
  } else if (action === 'remove-group' || action === 'restore-group') {
    if (!group) throw new UsageError(`principals ${action} ${name}: name a group`);
    const change = action === 'remove-group' ? removeGroup(group) : restoreGroup(group);
    console.log(describePrincipal(await changePrincipal(kv, name, change)));
  } else throw new UsageError('principals: list, show, revoke, restore, remove-group or restore-group');
}

async function grants(values: Values, [action, name, grantId]: string[]): Promise<void> {
  if (!name) throw new UsageError(`grants ${action ?? ''}: name a principal`);
  const kv = new WranglerKv(kvTarget(values), values['oauth-binding']);
  if (action === 'list') {
    const found = await listGrants(kv, name);
    if (found.length === 0) console.log(`no grants for ${name}`);
    for (const g of found) {
      console.log(
        `${g.id}  ${g.clientId}  ${g.resource}  since ${g.createdAt}${g.expiresAt ? ` until ${g.expiresAt}` : ''}`,
      );
    }
  } else if (action === 'revoke') {
    console.log(`${await revokeGrants(kv, name, grantId)} grant(s) of ${name} revoked`);
  } else throw new UsageError('grants: list or revoke');
}

async function connections(values: Values, [action, first, second]: string[]): Promise<void> {
  const kv = kvFor(values);
  if (action === 'list') {
    const found = await listConnections(kv, first);
    if (found.length === 0) console.log(`no connections${first ? ` for ${first}` : ''}`);
    for (const c of found) console.log(`${c.server}  ${c.principal}`);
  } else if (action === 'revoke') {
    if (!first) throw new UsageError('connections revoke: name a principal');
    console.log(`${await revokeConnections(kv, first, second)} connection(s) of ${first} revoked`);
  } else throw new UsageError('connections: list or revoke');
}

/** The document file of one server in --dir, parsed and checked. */
function documentOf(values: Values, server: string) {
  const file = documentFiles(values.dir).find((f) => basename(f, extname(f)) === server);
  if (file === undefined) throw new UsageError(`no document for "${server}" in ${values.dir}`);
  const checked = checkFiles([file]);
  const [checkedDoc] = checked.documents;
  if (checkedDoc === undefined) throw new UsageError(checked.problems.join('\n'));
  return { file, doc: checkedDoc.document };
}

async function snapshotOf(values: Values, server: string): Promise<ToolSnapshot> {
  const snapshot = (await snapshots(kvFor(values), [server])).get(server);
  if (snapshot !== undefined) return snapshot;
  throw new UsageError(
    `no tool list of "${server}" in KV yet: the edge keeps what a client lists through it (list its tools once, then try again)`,
  );
}

async function pin(values: Values, [server, ...only]: string[]): Promise<void> {
  if (!server) throw new UsageError('pin: name a server');
  const { file, doc } = documentOf(values, server);
  const snapshot = await snapshotOf(values, server);
  const { pins, changes, skipped } = pinsFrom(doc, snapshot, { update: Boolean(values.update), only });
  for (const line of changes) console.log(line);
  for (const line of skipped) console.log(`  not changed: ${line}; review it (mcpgw drift), then --update`);
  if (canonicalJson(pins) === canonicalJson(doc.pins)) {
    console.log(`${file}: nothing to pin`);
    return;
  }
  writePins(file, pins);
  console.log(
    `${file}: ${changes.length} pin(s) written, from the tools listed at ${snapshot.at}; review, commit, mcpgw apply`,
  );
}

/** The documents in --dir, for commands that read them: the first problem stops them. */
function validDocuments(values: Values) {
  const checked = checkFiles(documentFiles(values.dir));
  if (checked.problems.length > 0) throw new UsageError(`${values.dir}: ${checked.problems[0]}`);
  return checked.documents.map((d) => d.document);
}

async function drift(values: Values, [server]: string[]): Promise<number> {
  const pinned = validDocuments(values).filter(
    (doc) => doc.pins !== undefined && (server === undefined || doc.name === server),
  );
  if (pinned.length === 0) {
    console.log(
      server ? `${server} has no pins (mcpgw pin ${server})` : `no document in ${values.dir} has pins`,
    );
    return 0;
  }
  const found = await snapshots(
    kvFor(values),
    pinned.map((doc) => doc.name),
  );
  let drifted = 0;
  for (const doc of pinned) {
    const snapshot = found.get(doc.name);
    if (snapshot === undefined) {
      console.log(`${doc.name}: no tool list in KV yet`);
      continue;
    }
    const differences = driftOf(doc, snapshot);
    drifted += differences.length;
    console.log(describeDrift(doc, snapshot, differences));
  }
  return drifted === 0 ? 0 : 1;
}

/** Each person's use of each quota in its current window. */
async function quotas(values: Values): Promise<void> {
  const windows = quotaWindows(validDocuments(values), values.server);
  if (windows.length === 0) {
    console.log(`no quotas in ${values.dir}${values.server ? ` for ${values.server}` : ''}`);
    return;
  }
  const api = sqlApiFromEnv(process.env);
  const used = [];
  for (const [doc, per] of windows) {
    const sql = quotaSql(doc.name, per);
    if (values.explain) console.error(`${sql}\n`);
    used.push(...quotaUse(doc, per, await runSql(api, sql)));
  }
  used.sort((a, b) => b.used / b.limit - a.used / a.limit);
  const rows = used.map((u) => ({ ...u, use: `${u.used}/${u.limit} per ${u.per}` }));
  console.log(
    values.json
      ? JSON.stringify(used, null, 2)
      : table(
          rows.map(({ server, principal, tool, use, for: f }) => ({ server, principal, tool, use, for: f })),
        ),
  );
}

async function run(command: string, values: Values, rest: string[]): Promise<number> {
  switch (command) {
    case 'validate': {
      const checked = await validate(values, rest, Boolean(values.local || values.remote));
      if (checked.problems.length === 0)
        console.log(`✓ ${checked.documents.length} document(s) valid${values.strict ? ' (strict)' : ''}`);
      return checked.problems.length === 0 ? 0 : 1;
    }
    case 'diff':
      console.log(describePlan((await changes(values, rest)).planned.steps));
      return 0;
    case 'apply':
      await apply(values, rest);
      return 0;
    case 'status':
      await status(values);
      return 0;
    case 'keys':
      await keys(values, rest);
      return 0;
    case 'principals':
      await principals(values, rest);
      return 0;
    case 'grants':
      await grants(values, rest);
      return 0;
    case 'pin':
      await pin(values, rest);
      return 0;
    case 'drift':
      return drift(values, rest);
    case 'assertion-key':
      console.log(newAssertionKey());
      return 0;
    case 'token-key':
      console.log(newTokenKey());
      return 0;
    case 'connections':
      await connections(values, rest);
      return 0;
    case 'usage': {
      if (values.quotas) {
        await quotas(values);
        return 0;
      }
      const sql = buildSql({ since: values.since, server: values.server, by: values.by as By });
      if (values.explain) console.error(`${sql}\n`);
      const rows = await runSql(sqlApiFromEnv(process.env), sql);
      console.log(values.json ? JSON.stringify(rows, null, 2) : table(rows));
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}" (${Object.keys(commands).join(', ')})`);
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    console.log(command === undefined ? help : commandHelp(command));
    return values.help ? 0 : 2;
  }
  return run(command, values, rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    const usage =
      error instanceof UsageError ||
      error instanceof SqlApiError ||
      error instanceof KeyError ||
      error instanceof PrincipalError ||
      (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') === true;
    console.error(usage ? `mcpgw: ${error.message}` : error.message);
    if (usage) console.error('Run mcpgw --help for usage.');
    process.exit(usage ? 2 : 1);
  },
);
