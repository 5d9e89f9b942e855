import type { parseArgs } from 'node:util';

/** The command line's options, shared by every command. */
export const options = {
  local: { type: 'boolean' },
  remote: { type: 'boolean' },
  yes: { type: 'boolean' },
  strict: { type: 'boolean' },
  dir: { type: 'string', default: 'servers' },
  'persist-to': { type: 'string' },
  binding: { type: 'string', default: 'GATEWAY_KV' },
  'oauth-binding': { type: 'string', default: 'OAUTH_KV' },
  principal: { type: 'string' },
  groups: { type: 'string', default: '' },
  expires: { type: 'string' },
  since: { type: 'string', default: '24h' },
  server: { type: 'string' },
  by: { type: 'string', default: 'server' },
  json: { type: 'boolean' },
  explain: { type: 'boolean' },
  quotas: { type: 'boolean' },
  update: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Values = ReturnType<
  typeof parseArgs<{ options: typeof options; allowPositionals: true }>
>['values'];

/** Bad input on the command line: printed as it is, with no stack, and exit code 2. */
export class UsageError extends Error {}
