import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge } from '../../bridge/app.ts';
import { parseConfig } from '../../bridge/config.ts';
import { createLogger } from '../../bridge/log.ts';
import { refusalsSql, startEdgeRefusals } from '../../bridge/metrics/edge-refusals.ts';
import { everything, sample, until } from '../helpers/bridge.ts';

describe("the edge's refusals as a bridge metric", () => {
  let api: Server;
  let base: string;
  let rows: unknown[] = [];

  beforeAll(async () => {
    api = createServer((req, res) => {
      req.resume();
      req.on('end', () =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: rows })),
      );
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => api.close(resolve)));

  it('asks only for refused tools/call in the window, bounded', () => {
    expect(refusalsSql('mcp_gateway', 5)).toContain("timestamp > NOW() - INTERVAL '5' MINUTE");
    expect(refusalsSql('mcp_gateway', 5)).toMatch(/LIMIT 50$/);
    expect(() => refusalsSql('x; DROP', 5)).toThrow(/not a dataset name/);
  });

  it('exports the counts, with label values a client chose made safe', async () => {
    rows = [
      { server: 'openshift', tool: 'pods_delete', decision: 'not_allowed', calls: 7 },
      { server: 'openshift', tool: 'pods delete\n{evil="1"}', decision: 'denied', calls: 3 },
    ];
    const registry = new Registry();
    const stop = startEdgeRefusals(
      {
        api: { accountId: 'a', token: 't', baseUrl: base },
        dataset: 'mcp_gateway',
        intervalSeconds: 60,
        windowMinutes: 5,
      },
      registry,
      createLogger('error'),
    );
    try {
      const text = await until(async () => {
        const t = await registry.metrics();
        return t.includes('pods_delete') ? t : undefined;
      }, 'a poll');
      expect(sample(text, 'mcp_edge_refused_tool_calls', { tool: 'pods_delete' })).toBe(7);
      expect(sample(text, 'mcp_edge_refused_tool_calls', { tool: 'other', decision: 'denied' })).toBe(3);
      expect(sample(text, 'mcp_edge_analytics_polls_total', { outcome: 'ok' })).toBe(1);
    } finally {
      stop();
    }
  });

  it('refuses to start without the credentials it was told to read', async () => {
    const config = parseConfig({
      version: 1,
      listen: { port: 0 },
      metrics: { port: 0 },
      edgeAnalytics: { apiBaseUrl: base },
      servers: [{ name: 'everything', transport: everything, pool: 0 }],
    });
    await expect(startBridge(config, createLogger('error'), {})).rejects.toThrow(
      /edgeAnalytics: set CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN/,
    );
  });
});
