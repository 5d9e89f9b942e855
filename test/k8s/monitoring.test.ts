import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { bridgeCommand, freePort, type Started, startProcess } from '../../scripts/processes.ts';
import { signingFetch, testSecret } from '../../scripts/signing-fetch.ts';
import { pinsHeader } from '../../shared/policy/pins.ts';
import { everythingServer, repo, sample, until } from '../helpers/bridge.ts';
import { type AlertRule, type RunningPrometheus, startPrometheusAsOperator } from '../helpers/prometheus.ts';
import { find, render } from './render.ts';

/**
 * The cluster's monitoring, end to end: the bridge started as the StatefulSet's container would
 * (its ConfigMap, its command), a real Prometheus configured from the ServiceMonitor and loaded
 * with the PrometheusRule, traffic, then every alert expression and dashboard query.
 */
describe('the PrometheusRule and the dashboard against a real Prometheus', { timeout: 120_000 }, () => {
  let sqlApi: Server;
  const sqlRequests: { auth?: string; body: string }[] = [];
  let bridge: Started;
  let prometheus: RunningPrometheus;
  let rules: AlertRule[];
  let panels: { title: string; targets: { expr: string }[] }[];
  let client: Client;

  async function startSqlApi(): Promise<string> {
    sqlApi = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        sqlRequests.push({ auth: req.headers.authorization, body });
        const data = [{ server: 'openshift', tool: 'pods_delete', decision: 'not_allowed', calls: 42 }];
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data }));
      });
    });
    await new Promise<void>((resolve) => sqlApi.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(sqlApi.address() as AddressInfo).port}/client/v4`;
  }

  /** The prod ConfigMap's bridge.yaml, with what differs on this machine: ports, paths, the SQL API. */
  async function bridgeConfig(objects: Awaited<ReturnType<typeof render>>, sqlBase: string) {
    const config = parse(find(objects, 'ConfigMap', 'mcp-bridge-config').data?.['bridge.yaml'] ?? '');
    const [port, metricsPort] = [await freePort(), await freePort()];
    config.listen = { host: '127.0.0.1', port };
    config.metrics = { host: '127.0.0.1', port: metricsPort };
    config.edgeAnalytics = { ...config.edgeAnalytics, apiBaseUrl: sqlBase, intervalSeconds: 1 };
    config.servers[0].transport.args = [everythingServer, 'stdio'];
    config.servers[0].transport.command = process.execPath;
    const file = join(await mkdtemp(join(tmpdir(), 'k8s-bridge-')), 'bridge.yaml');
    writeFileSync(file, stringify(config));
    return { file, url: `http://127.0.0.1:${port}`, metrics: `127.0.0.1:${metricsPort}` };
  }

  async function traffic(bridgeUrl: string, round: number) {
    const unsigned = () => fetch(`${bridgeUrl}/everything/mcp`, { method: 'POST', body: '{}' });
    for (let i = 0; i < 6; i++) await (await unsigned()).text();
    for (let i = 0; i < 4; i++)
      await client.callTool({ name: 'echo', arguments: { message: `r${round}-${i}` } });
    await client.callTool({ name: 'get-sum', arguments: { a: 'not a number' } }).catch(() => undefined);
    await client.listTools();
  }

  beforeAll(async () => {
    const objects = await render('overlays/prod');
    const dashboard = JSON.parse(
      find(objects, 'ConfigMap', 'mcp-bridge-dashboard').data?.['mcp-bridge.json'] ?? '{}',
    );
    panels = dashboard.panels;
    const config = await bridgeConfig(objects, await startSqlApi());
    bridge = await startProcess(
      process.execPath,
      [...bridgeCommand.map((arg) => join(repo, arg)), '--config', config.file],
      /"listening"/,
      {
        env: {
          ...process.env,
          BRIDGE_SIGNING_SECRET: testSecret,
          CLOUDFLARE_ACCOUNT_ID: 'acc-123',
          CLOUDFLARE_API_TOKEN: 'analytics-read-token',
          LOG_LEVEL: 'error',
        },
      },
    );
    ({ prometheus, rules } = await startPrometheusAsOperator(objects, config.metrics));
    client = new Client({ name: 'monitoring-test', version: '1' });
    const fetchSigned = signingFetch({ subject: 'ops', groups: [], method: 'api_key' });
    // As the edge sends a pinned server's lists: with pins that none of these tools matches.
    const pinned = (url: string | URL, init: RequestInit = {}) => {
      const headers = new Headers(init.headers);
      headers.set(pinsHeader, 'A'.repeat(16));
      return fetchSigned(url, { ...init, headers });
    };
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${config.url}/everything/mcp`), { fetch: pinned }),
    );
    await client.listTools();
    // Two rounds with scrapes between: rate() and increase() need a series to grow, not just appear.
    await traffic(config.url, 1);
    await scrapedAll(config.metrics);
    await traffic(config.url, 2);
    await scrapedAll(config.metrics);
  }, 120_000);

  /** Waits until Prometheus has scraped every request the bridge has counted so far. */
  async function scrapedAll(metrics: string): Promise<void> {
    const text = await (await fetch(`http://${metrics}/metrics`)).text();
    const served = sample(text, 'toolhive_mcp_requests_total');
    await until(async () => {
      const seen = await prometheus.query('sum(toolhive_mcp_requests_total)');
      return Number(seen[0]?.value[1] ?? 0) >= served || undefined;
    }, `a scrape with all ${served} requests`);
  }

  afterAll(async () => {
    await client?.close();
    await prometheus?.started.stop();
    await bridge?.stop();
    await new Promise((resolve) => sqlApi?.close(resolve));
  });

  it('asks the Analytics Engine SQL API for the refused calls, with the token', () => {
    expect(sqlRequests.length).toBeGreaterThan(0);
    expect(sqlRequests[0]?.auth).toBe('Bearer analytics-read-token');
    expect(sqlRequests[0]?.body).toContain("blob2 = 'tools/call' AND blob6 = 'refused'");
  });

  it('evaluates every alert: the ones this traffic should trip have data, the others parse and are quiet', async () => {
    const tripped = [
      'McpServerErrorRatioHigh',
      'McpDeniedCallsSpike',
      'McpBridgeForgedRequests',
      'McpToolDefinitionDrift',
    ];
    expect(rules.map((r) => r.alert)).toEqual(expect.arrayContaining(tripped));
    for (const rule of rules) {
      if (tripped.includes(rule.alert)) {
        const result = await until(async () => {
          const r = await prometheus.query(rule.expr);
          return r.length > 0 ? r : undefined;
        }, `data for ${rule.alert}`);
        expect(result.length, rule.alert).toBeGreaterThan(0);
      } else {
        expect(await prometheus.query(rule.expr), rule.alert).toEqual([]);
      }
    }
    const spike = await prometheus.query('max by (server, tool) (mcp_edge_refused_tool_calls)');
    expect(spike.map((s) => [s.metric.tool, s.value[1]])).toEqual([['pods_delete', '42']]);
  });

  it('Prometheus has loaded the rules and sees them pending', async () => {
    const pending = await until(async () => {
      const r = await prometheus.query('ALERTS{alertstate="pending"}');
      return r.length > 0 ? r : undefined;
    }, 'pending alerts');
    expect(pending.map((s) => s.metric.alertname)).toContain('McpServerErrorRatioHigh');
  });

  it('answers every dashboard panel with data', async () => {
    for (const panel of panels) {
      const results = await Promise.all(
        panel.targets.map((t) =>
          prometheus.query(t.expr.replaceAll('$server', '.*').replaceAll('$__rate_interval', '1m')),
        ),
      );
      expect(
        results.some((r) => r.length > 0),
        panel.title,
      ).toBe(true);
    }
  });
});
