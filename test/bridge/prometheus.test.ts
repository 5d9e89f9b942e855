import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connect,
  everything,
  post,
  repo,
  startTestBridge,
  type TestBridge,
  until,
} from '../helpers/bridge.ts';
import { type RunningPrometheus, startPrometheus } from '../helpers/prometheus.ts';

/** A real Prometheus (Debian's `prometheus`) scraping the bridge's /metrics. */
describe('Prometheus scraping the bridge', () => {
  let bridge: TestBridge;
  let prometheus: RunningPrometheus;
  let client: Client;

  beforeAll(async () => {
    bridge = await startTestBridge([{ name: 'everything', transport: everything, pool: 1 }]);
    client = await connect(bridge.mcpUrl('everything'));
    await client.listTools();
    for (let i = 0; i < 5; i++) await client.callTool({ name: 'echo', arguments: { message: `m${i}` } });
    await client.callTool({ name: 'get-sum', arguments: { a: 'not a number' } }).catch(() => undefined);
    await post(
      bridge.mcpUrl('everything'),
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { 'mcp-session-id': 'gone' },
    );

    const dir = await mkdtemp(join(tmpdir(), 'prometheus-'));
    const target = new URL(bridge.metricsUrl).host;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: mcp-bridge',
        '    metrics_path: /metrics',
        `    static_configs: [{ targets: ["${target}"] }]`,
      ].join('\n'),
    );
    prometheus = await startPrometheus(dir);
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await prometheus?.started.stop();
    await bridge?.drain();
  });

  it('stores toolhive_mcp_requests_total with the ToolHive label set', async () => {
    const series = await until(
      async () => {
        const result = await prometheus.query(
          'toolhive_mcp_requests_total{mcp_method="tools/call", mcp_resource_id="echo"}',
        );
        return result.length > 0 ? result : undefined;
      },
      'first scrape',
      20_000,
    );
    expect(series[0]?.metric).toMatchObject({
      job: 'mcp-bridge',
      server: 'everything',
      transport: 'stdio',
      mcp_method: 'tools/call',
      mcp_resource_id: 'echo',
      status: 'success',
      status_code: '200',
    });
    expect(Number(series[0]?.value[1])).toBe(5);
  });

  it('counts the failed call as an error', async () => {
    const errors = await prometheus.query(
      'sum(toolhive_mcp_tool_calls_total{tool="get-sum", status="error"})',
    );
    expect(Number(errors[0]?.value[1])).toBe(1);
  });

  it('answers a quantile over the duration histogram', async () => {
    const p95 = await until(
      async () => {
        await client.callTool({ name: 'echo', arguments: { message: 'while scraping' } });
        const result = await prometheus.query(
          'histogram_quantile(0.95, sum by (le) (increase(toolhive_mcp_request_duration_seconds_bucket{mcp_method="tools/call"}[1m])))',
        );
        return result.length > 0 && result[0]?.value[1] !== 'NaN' ? result : undefined;
      },
      'two scrapes',
      20_000,
    );
    const seconds = Number(p95[0]?.value[1]);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(5);
  });

  it('runs every PromQL example in docs/metrics.md', async () => {
    const doc = readFileSync(join(repo, 'docs/metrics.md'), 'utf8');
    const examples = [...doc.matchAll(/```promql\n([\s\S]*?)```/g)].map((m) => (m[1] ?? '').trim());
    expect(examples.length).toBeGreaterThanOrEqual(8);
    for (const promql of examples) {
      const result = await until(async () => {
        const r = await prometheus.query(promql);
        return r.length > 0 ? r : undefined;
      }, `data for ${promql}`);
      expect(result.length, promql).toBeGreaterThan(0);
    }
  });
});
