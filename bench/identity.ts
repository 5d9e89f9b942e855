import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startBridge } from '../bridge/app.ts';
import { parseConfig } from '../bridge/config.ts';
import { createLogger } from '../bridge/log.ts';
import { startExchangeProvider } from '../scripts/exchange-provider.ts';
import { signingFetch, testSecret } from '../scripts/signing-fetch.ts';
import { assertionHeader } from '../shared/security/signing.ts';
import { type AssertionKeys, assertionFor, publishedKeys } from '../workers/identity/assertion.ts';
import { quantile } from './stats.ts';

/**
 * What a person's own credential costs at session set-up (initialize + tools/list), at the
 * bridge, alternated in one run (docs/upstream-identity.md):
 * - service: a warm child from the pool (pool 4), the bridge's own credential;
 * - token-exchange, token kept: a child spawned for the person, their token already at hand;
 * - token-exchange, new person: the same, after a token exchange at the identity provider
 *   (oidc-provider on 127.0.0.1).
 */
const sessions = Number(process.env.SESSIONS ?? 30);
/** Between two set-ups: the pool's refill after the service case (a spawn) must burden none of them. */
const settleMs = 1000;
const repo = join(import.meta.dirname, '..');

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keys = [{ ...privateKey.export({ format: 'jwk' }), kid: 'bench' }] as AssertionKeys;
const jwks = JSON.stringify(publishedKeys(keys));
const edge = createServer((_req, res) =>
  res.writeHead(200, { 'content-type': 'application/json' }).end(jwks),
);
await new Promise<void>((resolve) => edge.listen(0, '127.0.0.1', resolve));
const edgeOrigin = `http://127.0.0.1:${(edge.address() as AddressInfo).port}`;
const idp = await startExchangeProvider({ tokenSeconds: 600 });
idp.trust(`${edgeOrigin}/jwks`, edgeOrigin);

const whoami = {
  type: 'stdio',
  command: process.execPath,
  args: [join(repo, 'test/fixtures/whoami-stdio.ts')],
};
const config = parseConfig({
  version: 1,
  listen: { port: 0 },
  metrics: { port: 0 },
  edge: { signatures: 'required' },
  servers: [
    { name: 'service', transport: whoami, pool: 4 },
    {
      name: 'personal',
      transport: whoami,
      identity: {
        mode: 'token-exchange',
        tokenEndpoint: idp.tokenEndpoint,
        clientId: idp.clientId,
        clientSecretEnv: 'IDP_CLIENT_SECRET',
        audience: 'https://kube.test',
      },
    },
  ],
});
const bridge = await startBridge(config, createLogger('error'), {
  BRIDGE_SIGNING_SECRET: testSecret,
  IDP_CLIENT_SECRET: idp.clientSecret,
});
// The pool fills before the first measurement.
await new Promise((resolve) => setTimeout(resolve, 3000));

async function setUp(server: string, subject: string): Promise<number> {
  const principal = { subject, groups: [], method: 'api_key' as const };
  const sign = signingFetch(principal);
  const assertion = await assertionFor({ keys, issuer: edgeOrigin, audience: idp.issuer }, principal, server);
  const fetchAs: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set(assertionHeader(server), assertion);
    return sign(input as string, { ...init, headers });
  };
  const started = performance.now();
  const transport = new StreamableHTTPClientTransport(new URL(`${bridge.url}/${server}/mcp`), {
    fetch: fetchAs,
  });
  const client = new Client({ name: 'bench-identity', version: '1' });
  await client.connect(transport);
  await client.listTools();
  const ms = performance.now() - started;
  await transport.terminateSession();
  await client.close();
  return ms;
}

const results: Record<string, number[]> = { service: [], kept: [], exchanged: [] };
await setUp('personal', 'kept-person');
const cases: [string, () => Promise<number>][] = [
  ['service', () => setUp('service', 'someone')],
  ['kept', () => setUp('personal', 'kept-person')],
  ['exchanged', () => setUp('personal', `person-${results.exchanged?.length}`)],
];
for (let i = 0; i < sessions; i++) {
  for (let j = 0; j < cases.length; j++) {
    const [name, run] = cases[(i + j) % cases.length] as [string, () => Promise<number>];
    results[name]?.push(await run());
    await new Promise((resolve) => setTimeout(resolve, settleMs));
  }
}

const p50 = (xs: number[]) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
const p90 = (xs: number[]) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.9,
  );
const base = p50(results.service ?? []);
console.log(`\nSession set-up at the bridge (initialize + tools/list), ${sessions} each, alternated`);
console.log('| identity | p50 ms | p90 ms | p50 vs service |\n|---|---|---|---|');
const rows: [string, string][] = [
  ['service', 'service (warm child from the pool of 4)'],
  ['kept', 'token-exchange, token kept (child spawned at set-up)'],
  ['exchanged', 'token-exchange, new person (exchange + spawn)'],
];
for (const [key, label] of rows) {
  const xs = results[key] ?? [];
  console.log(
    `| ${label} | ${p50(xs).toFixed(1)} | ${p90(xs).toFixed(1)} | ${(p50(xs) / base).toFixed(2)}× |`,
  );
}
console.log(`\nexchanges at the identity provider: ${[...idp.granted.values()].reduce((a, b) => a + b, 0)}`);

await bridge.drain(0);
await idp.stop();
edge.closeAllConnections();
edge.close();
