import { type Case, call } from './case.ts';

/** Spellings of a denied tool or resource that must meet the same refusal as the plain name. */

export function denyVariants(): Case[] {
  const names = [
    'get-env',
    'Get-Env',
    'GET-ENV',
    'get-Env',
    ' get-env',
    'get-env ',
    '\tget-env',
    'get-env\n',
    'get-env\u0000',
    'get-env\u200b',
    '\u200bget-env',
    'get\u200b-env',
    'get-env\u200d',
    '\ufeffget-env',
    'get\u2011env',
    'get\u2010env',
    'get\u2013env',
    'gеt-env',
    'gеt-еnv',
    'ｇｅｔ－ｅｎｖ',
    'get-env\u0301',
    'g\u0335et-env',
    '\u202eget-env',
    'get-env\u00ad',
    'get_env',
    'getenv',
    'get-env/',
    './get-env',
    'get-env*',
    'get-?nv',
    '*',
    '?',
    '',
    'echo\u0000get-env',
    'echo ',
    'Echo',
    'ECHO',
    'ech\u200bo',
    'еcho',
  ];
  return names.map((name, i) => ({
    family: 'denied-tool spellings',
    name: `name ${i}: ${JSON.stringify(name)}`,
    body: call(name),
  }));
}

/**
 * A denied resource (the corpus document allows `demo://docs/*` and denies `demo://docs/secret*`)
 * spelled every way a server might read as the same one: case, escapes, dot and empty segments,
 * escaped separators, double encoding, and through the methods that name a resource.
 */
export function deniedResourceVariants(): Case[] {
  const uris = [
    'demo://docs/secret.md',
    'DEMO://docs/secret.md',
    'demo://DOCS/secret.md',
    'demo://docs/SECRET.md',
    'demo://docs/Secret.md',
    'demo://docs/%73ecret.md',
    'demo://docs/%53ECRET.md',
    'demo://docs/%2573ecret.md',
    'demo://docs/./secret.md',
    'demo://docs/x/../secret.md',
    'demo://docs/x/%2e%2e/secret.md',
    'demo://docs/x/%2E%2E/secret.md',
    'demo://docs/x%2F..%2Fsecret.md',
    'demo://docs/x%252F..%252Fsecret.md',
    'demo://docs//secret.md',
    'demo://docs\\secret.md',
    'demo://docs/x\\..\\secret.md',
    'demo://docs/x%5C..%5Csecret.md',
    'demo://docs/secret.md%00.txt',
    'demo://docs/secret.md?x=1',
    'demo://docs/secret.md#part',
    'demo://docs/secret.md/',
    'demo://docs/secret%2Emd',
    'demo://docs/se%63ret.md',
    ' demo://docs/secret.md',
    'demo://docs/secret.md\n',
  ];
  const request = (method: string, params: object) =>
    JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
  return uris.flatMap((uri, i) => [
    {
      family: 'denied-resource spellings',
      name: `read ${i}: ${JSON.stringify(uri)}`,
      body: request('resources/read', { uri }),
    },
    {
      family: 'denied-resource spellings',
      name: `subscribe ${i}: ${JSON.stringify(uri)}`,
      body: request('resources/subscribe', { uri }),
    },
    {
      family: 'denied-resource spellings',
      name: `complete ${i}: ${JSON.stringify(uri)}`,
      body: request('completion/complete', {
        ref: { type: 'ref/resource', uri },
        argument: { name: 'a', value: '' },
      }),
    },
  ]);
}
