import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { LocalGateway } from '../../scripts/local-gateway.ts';

/**
 * What the two identity e2e files share: a caller with an API key, the text of their tool call,
 * and everything a run produced, for the leak check.
 */

/** A transport to one server (or the portal, `''`) as the holder of `key`. */
export function keyTransport(edgeUrl: string, server: string, key: string): StreamableHTTPClientTransport {
  const path = server === '' ? '/mcp' : `/${server}/mcp`;
  return new StreamableHTTPClientTransport(new URL(`${edgeUrl}${path}`), {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
}

/** An SDK 1.x client connected as the holder of `key`, kept in `clients` for the test's end. */
export async function connectWithKey(
  edgeUrl: string,
  server: string,
  key: string,
  clients: Client[],
): Promise<Client> {
  const client = new Client({ name: 'identity-test', version: '1' });
  await client.connect(keyTransport(edgeUrl, server, key));
  clients.push(client);
  return client;
}

/** A tool call's text, kept in `answers` (the leak check reads them); an error result throws. */
export async function callText(client: Client, answers: string[], name = 'whoami'): Promise<string> {
  const result = await client.callTool({ name, arguments: {} });
  const text = (result.content as { text: string }[])[0]?.text ?? '';
  answers.push(text);
  if (result.isError) throw new Error(text);
  return text;
}

/** Every log line, audit line, metric and answer of the run, as one text to search. */
export async function producedByRun(
  gateway: LocalGateway,
  run: { bridgeLog: string[]; audited: Record<string, unknown>[]; answers: string[] },
): Promise<string> {
  const metrics = await (await fetch(gateway.bridge.metricsUrl)).text();
  return [
    run.bridgeLog.join('\n'),
    gateway.workerLog(),
    JSON.stringify(run.audited),
    metrics,
    run.answers.join('\n'),
  ].join('\n');
}

/** Each token, and for a JWT its signature alone: a leak of either is a leak. */
export function withSignatures(tokens: string[]): string[] {
  return tokens.flatMap((token) => [token, token.split('.')[2] ?? token]);
}
