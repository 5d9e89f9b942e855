/** What `mcpgw --help` and `mcpgw <command> --help` print: every command, with examples. */
const where = '--local (wrangler dev state; --persist-to DIR) or --remote (the deployed namespace)';

export const commands: Record<string, { usage: string; about: string; examples: string[] }> = {
  validate: {
    usage: 'mcpgw validate [files...] [--strict] [--local|--remote]',
    about: `Checks servers/*.json|yaml (or the files given) with the Worker's own schema, then what one
document cannot show: file name = server name, no server twice, no grant for a group that may
not connect. With --local or --remote it also reads the tool lists servers last reported
and warns about allow patterns that match none of them (a typo hides a tool from everyone).
--strict (production) refuses those patterns, and requires a pinned artifact (image digest,
or npm version + integrity) and no failed signature check. Exit code 1 on any problem.`,
    examples: ['npx mcpgw validate', 'npx mcpgw validate --strict --remote servers/openshift.json'],
  },
  diff: {
    usage: 'mcpgw diff [--local|--remote] [--strict]',
    about: `What differs between the files and KV: + added, ~ changed (field by field), - removed.
Warns, like validate, about allow patterns that match no tool the server reported.`,
    examples: ['npx mcpgw diff --remote'],
  },
  apply: {
    usage: 'mcpgw apply [--local|--remote] [--strict] [--yes]',
    about: `Validates, shows the plan, asks, then writes only what changed and records the git commit
it applied (see status). --yes answers for CI. An invalid document stops it before any write;
with --strict, so does an allow pattern that matches no tool the server reported.`,
    examples: ['npx mcpgw apply --remote', 'npx mcpgw apply --local --yes   # while npm start runs'],
  },
  status: {
    usage: 'mcpgw status [--local|--remote]',
    about: 'Which commit is live in KV, when it was applied, and whether the files have drifted since.',
    examples: ['npx mcpgw status --remote'],
  },
  pin: {
    usage: 'mcpgw pin <server> [tools...] [--update] [--local|--remote] [--dir servers]',
    about: `Records the tools the server last listed through the gateway (the edge keeps them in KV)
as reviewed definitions in its document file: description, schemas, annotations, and a
digest of each (docs/server-documents.md#pins). Once a document has pins, the edge hides and
refuses a tool that differs from its pin, or has none. Tools no pin names are pinned as
listed; --update also pins changed tools as they are now and drops pins of tools no longer
listed. Review the file's diff, commit, then mcpgw apply.`,
    examples: [
      'npx mcpgw pin github --remote && git diff servers/github.json',
      'npx mcpgw pin github create_issue --update --remote   # after mcpgw drift',
    ],
  },
  drift: {
    usage: 'mcpgw drift [server] [--local|--remote] [--dir servers]',
    about: `What each pinned server last listed against the pins in its document file, field by
field: ~ changed (held back), + not pinned, - pinned but no longer listed. Exit code 1 when
anything differs, so that a scheduled job can alert.`,
    examples: ['npx mcpgw drift --remote', 'npx mcpgw drift github --local'],
  },
  'assertion-key': {
    usage: 'mcpgw assertion-key',
    about: `Prints a new private key (a P-256 JWK, one line) for the edge's assertions of who is
calling, which the bridge trades for each person's own token at the identity provider
(docs/upstream-identity.md). The edge publishes its public half at /.well-known/jwks.json.`,
    examples: ['npx mcpgw assertion-key | npx wrangler secret put ASSERTION_SIGNING_KEY'],
  },
  'token-key': {
    usage: 'mcpgw token-key',
    about: `Prints a new key (32 random bytes, base64url) that seals each person's connected upstream
tokens at rest in KV, and the connect page's cookie (per-user-oauth, docs/upstream-identity.md).
Replacing it disconnects everyone: they connect again at the link their next call gets.`,
    examples: ['npx mcpgw token-key | npx wrangler secret put UPSTREAM_TOKEN_KEY'],
  },
  connections: {
    usage: 'mcpgw connections list [server] | connections revoke <principal> [server]',
    about: `Accounts people connected for per-user-oauth servers (docs/upstream-identity.md): list shows
server and principal, never a token; revoke deletes a person's connection (one server's, or
all): their next call gets the connect link.`,
    examples: [
      'npx mcpgw connections list github --remote',
      'npx mcpgw connections revoke alice@example.com --remote',
    ],
  },
  keys: {
    usage: 'mcpgw keys create --principal P [--groups a,b] [--expires 30d] | keys list | keys revoke <id>',
    about: `API keys: create prints a new key once (only its SHA-256 is stored); list shows id,
principal, groups and state; revoke takes an id from list. The edge refuses a revoked key within
DOCUMENT_CACHE_SECONDS (10 s) in an isolate that verified it before (docs/security.md).`,
    examples: [
      'npx mcpgw keys create --principal alice --groups viewers --expires 30d --remote',
      'npx mcpgw keys revoke 1a2b3c4d5e6f --remote',
    ],
  },
  principals: {
    usage:
      'mcpgw principals list | show <p> | revoke <p> | restore <p> | remove-group <p> <g> | restore-group <p> <g>',
    about: `People who signed in through the gateway's OAuth sign-in (docs/auth.md), with the groups
their identity provider named. revoke refuses their tokens at the next request, deletes their
grants and refuses their next sign-in (also for someone who has not signed in yet); restore
undoes it. remove-group takes a group away at the next request and keeps it away when they
sign in again, whatever the identity provider says; restore-group gives it back.`,
    examples: [
      'npx mcpgw principals show alice@example.com --remote',
      'npx mcpgw principals remove-group alice@example.com developers --remote',
      'npx mcpgw principals revoke mallory@example.com --remote',
    ],
  },
  grants: {
    usage: 'mcpgw grants list <principal> | grants revoke <principal> [grant-id]',
    about: `What a person allowed which client to do (OAuth grants, in OAUTH_KV): list shows grant id,
client, MCP server and dates; revoke deletes one grant or all of them with their access and
refresh tokens: the client must sign in again.`,
    examples: [
      'npx mcpgw grants list alice@example.com --remote',
      'npx mcpgw grants revoke alice@example.com --remote',
    ],
  },
  usage: {
    usage:
      'mcpgw usage [--since 24h] [--server S] [--by server|tool|principal|decision|portal] [--json] [--explain] | usage --quotas [--server S] [--dir servers]',
    about: `Reads the Analytics Engine SQL API (CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN with
Account Analytics: Read): messages, refusals (quota_exceeded among the decisions), errors and
mean latency. --quotas sets each person's calls in the current window beside the quotas of the
documents in --dir (the edge's own count is exact; this one is a few seconds behind).
--explain prints the SQL.`,
    examples: [
      'npx mcpgw usage --since 7d --by decision --server openshift',
      'npx mcpgw usage --quotas --server openshift',
    ],
  },
};

export const help = `mcpgw: govern the MCP edge gateway's server documents, API keys and signed-in people (through wrangler).

Commands:
${Object.values(commands)
  .map((c) => `  ${c.usage}`)
  .join('\n')}

KV: ${where}. Also --dir servers (documents folder), --binding GATEWAY_KV,
--oauth-binding OAUTH_KV (grants).
mcpgw <command> --help explains one command, with examples.`;

export function commandHelp(name: string): string {
  const c = commands[name];
  if (c === undefined) return help;
  return `${c.usage}\n\n${c.about}\n\nKV: ${where}.\nExamples:\n${c.examples.map((e) => `  ${e}`).join('\n')}`;
}
