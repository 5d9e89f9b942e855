import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peersFrom, routeOf } from '../../bridge/sessions/peers.ts';
import { bridgeCommand, freePort, type Started, startProcess } from '../../scripts/processes.ts';
import { signingFetch, testSecret } from '../../scripts/signing-fetch.ts';
import type { Principal } from '../../shared/policy/policy.ts';
import { fixtureServer, initializeRequest, repo, sample } from '../helpers/bridge.ts';

const alice: Principal = { subject: 'alice', groups: [], method: 'api_key' };

/** Two bridge processes standing in for two StatefulSet pods, each knowing where the other listens. */
describe('sessions across bridge instances', { timeout: 60_000 }, () => {
  const pods: Record<string, { port: number; metricsPort: number; process?: Started }> = {};
  const base = (name: string) => `http://127.0.0.1:${pods[name]?.port}`;

  async function startPod(name: string): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'peers-'));
    const config = join(dir, `${name}.json`);
    const instances = Object.fromEntries(Object.keys(pods).map((pod) => [pod, base(pod)]));
    const pod = pods[name] as { port: number; metricsPort: number; process?: Started };
    writeFileSync(
      config,
      JSON.stringify({
        version: 1,
        instance: name,
        listen: { port: pod.port },
        metrics: { port: pod.metricsPort },
        edge: { signatures: 'required' },
        peers: { instances },
        drainSeconds: 1,
        servers: [
          { name: 'fixture', transport: { type: 'stdio', command: process.execPath, args: [fixtureServer] } },
        ],
      }),
    );
    pod.process = await startProcess(
      process.execPath,
      [...bridgeCommand.map((arg) => join(repo, arg)), '--config', config],
      /"listening"/,
      {
        env: { ...process.env, BRIDGE_SIGNING_SECRET: testSecret, LOG_LEVEL: 'error' },
      },
    );
  }

  /** A load balancer that sends each request to the next pod in turn, whatever session it belongs to. */
  function roundRobin(): typeof fetch {
    const sign = signingFetch(alice);
    let next = 0;
    return (async (input: string | URL | Request, init?: RequestInit) => {
      const names = Object.keys(pods).filter((n) => pods[n]?.process?.child.exitCode === null);
      const target = names[next++ % names.length] as string;
      const url = new URL(input instanceof Request ? input.url : input);
      return sign(new URL(url.pathname + url.search, base(target)), init);
    }) as typeof fetch;
  }

  async function client(fetchVia: typeof fetch, path = '/fixture/mcp'): Promise<Client> {
    const c = new Client({ name: 'lb-client', version: '1' });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${base('bridge-0')}${path}`), { fetch: fetchVia }),
    );
    return c;
  }

  /** Six calls answered by one child (its pid in each answer), then a progress stream: tools named with `prefix`. */
  async function expectOneChildAndProgress(c: Client, prefix = ''): Promise<void> {
    const answers = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const result = await c.callTool({ name: `${prefix}fault_echo`, arguments: { tag: 't' } });
      answers.add((result.content as { text: string }[])[0]?.text ?? '');
    }
    expect([...answers]).toEqual([expect.stringMatching(/^t@\d+$/)]);
    const progress: number[] = [];
    await c.callTool({ name: `${prefix}test_tool_with_progress`, arguments: {} }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(progress).toEqual([0, 50, 100]);
  }

  const metrics = async (name: string) =>
    (await fetch(`http://127.0.0.1:${pods[name]?.metricsPort}/metrics`)).text();

  beforeAll(async () => {
    for (const name of ['bridge-0', 'bridge-1'])
      pods[name] = { port: await freePort(), metricsPort: await freePort() };
    await Promise.all(Object.keys(pods).map(startPod));
  });
  afterAll(async () => {
    await Promise.all(Object.values(pods).map((pod) => pod.process?.stop()));
  });

  it('serves a session whichever pod each request lands on, streams included', async () => {
    const c = await client(roundRobin());
    try {
      await expectOneChildAndProgress(c);
    } finally {
      await c.close();
    }
    const relayed =
      sample(await metrics('bridge-0'), 'mcp_bridge_forwarded_requests_total', { outcome: 'relayed' }) +
      sample(await metrics('bridge-1'), 'mcp_bridge_forwarded_requests_total', { outcome: 'relayed' });
    expect(relayed).toBeGreaterThanOrEqual(3);
  });

  it('serves a portal session whichever pod each request lands on, its member included', async () => {
    const c = await client(roundRobin(), '/mcp?servers=fixture');
    try {
      await expectOneChildAndProgress(c, 'fixture__');
    } finally {
      await c.close();
    }
  });

  it('brings a 2026-07-28 retry to the pod holding the child that asked, whichever pod it lands on', async () => {
    const pinned = {
      versionNegotiation: { mode: { pin: '2026-07-28' } },
      capabilities: { elicitation: { form: {} } },
    } as const;
    const c = new ModernClient({ name: 'lb-modern', version: '1' }, pinned);
    c.setRequestHandler('elicitation/create', async (request) => {
      const content: Record<string, string> = request.params.message.includes('color')
        ? { color: 'blue' }
        : { name: 'Ada' };
      return { action: 'accept', content };
    });
    const relayed = async () =>
      sample(await metrics('bridge-0'), 'mcp_bridge_forwarded_requests_total', { outcome: 'relayed' }) +
      sample(await metrics('bridge-1'), 'mcp_bridge_forwarded_requests_total', { outcome: 'relayed' });
    const before = await relayed();
    await c.connect(new ModernTransport(new URL(`${base('bridge-0')}/fixture/mcp`), { fetch: roundRobin() }));
    try {
      for (let i = 0; i < 3; i++) {
        const result = await c.callTool({ name: 'test_input_required_result_multi_round', arguments: {} });
        expect(result.content).toEqual([{ type: 'text', text: 'Ada likes blue' }]);
      }
      expect(await relayed()).toBeGreaterThan(before);
    } finally {
      await c.close();
    }
  });

  it('forwards only what the edge signed, and never a second time', async () => {
    const direct = signingFetch(alice);
    const opened = await direct(`${base('bridge-0')}/fixture/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify(initializeRequest),
    });
    await opened.text();
    const session = opened.headers.get('mcp-session-id') ?? '';
    expect(session.startsWith('bridge-0.')).toBe(true);
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' });
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': session,
      'mcp-protocol-version': '2025-11-25',
    };
    const unsigned = await fetch(`${base('bridge-1')}/fixture/mcp`, { method: 'POST', headers, body: ping });
    expect(unsigned.status).toBe(401);
    const looped = await direct(`${base('bridge-1')}/fixture/mcp`, {
      method: 'POST',
      headers: { ...headers, 'x-mcp-bridge-hop': 'bridge-0' },
      body: ping,
    });
    expect(looped.status).toBe(404);
    const relayed = await direct(`${base('bridge-1')}/fixture/mcp`, { method: 'POST', headers, body: ping });
    expect(relayed.status).toBe(200);
    expect(await relayed.text()).toContain('"id":2');
  });

  it('answers 404 for the sessions of a pod that is gone, and the client can start again', async () => {
    const sign = signingFetch(alice);
    const onPod1 = await client(((input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(input instanceof Request ? input.url : input);
      return sign(new URL(url.pathname + url.search, base('bridge-1')), init);
    }) as typeof fetch);
    const session = (onPod1.transport as StreamableHTTPClientTransport).sessionId ?? '';
    expect(session.startsWith('bridge-1.')).toBe(true);
    await pods['bridge-1']?.process?.stop();
    const orphan = await sign(`${base('bridge-0')}/fixture/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': session,
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'ping' }),
    });
    expect(orphan.status).toBe(404);
    expect(
      sample(await metrics('bridge-0'), 'mcp_bridge_forwarded_requests_total', { outcome: 'unreachable' }),
    ).toBe(1);
    const again = await client(roundRobin());
    const back = await again.callTool({ name: 'fault_echo', arguments: { tag: 'back' } });
    expect((back.content as { text: string }[])[0]?.text).toMatch(/^back@\d+$/);
    await again.close();
  });
});

describe('routing by session id', () => {
  const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';
  const peers = peersFrom('mcp-bridge-0', { url: 'http://{instance}.mcp-bridge-peers.mcp.svc:8080' });

  it('keeps its own sessions and requests without one, and sends others to their owner', () => {
    expect(routeOf(peers, undefined, undefined)).toEqual({ to: 'self' });
    expect(routeOf(peers, `mcp-bridge-0.${uuid}`, undefined)).toEqual({ to: 'self' });
    expect(routeOf(peers, `mcp-bridge-1.${uuid}`, undefined)).toEqual({
      to: 'peer',
      owner: 'mcp-bridge-1',
      base: 'http://mcp-bridge-1.mcp-bridge-peers.mcp.svc:8080',
    });
    expect(routeOf(peers, `mcp-bridge-1.${uuid}`, 'mcp-bridge-2')).toEqual({ to: 'nowhere' });
  });

  it('never builds a URL from a session id that is not an instance name', () => {
    for (const id of [
      `evil.com/x#.${uuid}`,
      `a:b@c.${uuid}`,
      'no-dot',
      `.${uuid}`,
      `${'a'.repeat(64)}.${uuid}`,
      'a.1',
    ])
      expect(routeOf(peers, id, undefined), id).toEqual({ to: 'self' });
    expect(routeOf(undefined, `mcp-bridge-1.${uuid}`, undefined)).toEqual({ to: 'self' });
  });
});
