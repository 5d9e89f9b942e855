import { join } from 'node:path';
import { freePort, type Started, startProcess } from './process.ts';

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
