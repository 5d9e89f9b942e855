import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, type Started, startProcess } from '../../scripts/processes.ts';
import { find, type K8sObject } from '../k8s/render.ts';

export interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

export interface RunningPrometheus {
  started: Started;
  query(promql: string): Promise<Series[]>;
}

/** Debian's `prometheus` on a free port, with `dir/prometheus.yml` as its config and `dir/data` as its store. */
export async function startPrometheus(dir: string): Promise<RunningPrometheus> {
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const started = await startProcess(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    /Server is ready to receive web requests/,
  );
  return {
    started,
    async query(promql) {
      const response = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await response.json()) as { status: string; error?: string; data?: { result: Series[] } };
      if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
      return body.data?.result ?? [];
    },
  };
}

export interface AlertRule {
  alert: string;
  expr: string;
}

/**
 * Prometheus configured as the Prometheus Operator would configure it from the rendered
 * ServiceMonitor, with the PrometheusRule loaded, scraping one target (`host:port`). The
 * manifest's 30 s interval is compressed to 1 s.
 */
export async function startPrometheusAsOperator(
  objects: K8sObject[],
  target: string,
): Promise<{ prometheus: RunningPrometheus; rules: AlertRule[] }> {
  const monitor = find(objects, 'ServiceMonitor', 'mcp-bridge');
  const endpoint = (monitor.spec as { endpoints: { path: string; scheme: string }[] }).endpoints[0];
  const rule = find(objects, 'PrometheusRule', 'mcp-bridge');
  const groups = (rule.spec as { groups: { rules: AlertRule[] }[] }).groups;
  const dir = await mkdtemp(join(tmpdir(), 'k8s-prometheus-'));
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [join(dir, 'rules.yaml')],
      scrape_configs: [
        {
          job_name: `serviceMonitor/${monitor.metadata.namespace}/${monitor.metadata.name}/0`,
          metrics_path: endpoint?.path,
          scheme: endpoint?.scheme,
          static_configs: [{ targets: [target] }],
        },
      ],
    }),
  );
  return { prometheus: await startPrometheus(dir), rules: groups.flatMap((g) => g.rules) };
}
