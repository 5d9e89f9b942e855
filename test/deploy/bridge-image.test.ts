import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseImage, podman } from '../../scripts/base-image.ts';
import { imageSbom } from '../../scripts/image-sbom.ts';
import { type LocalEdge, startLocalEdge } from '../../scripts/local-gateway.ts';
import { freePort } from '../../scripts/processes.ts';
import { connect, repo, sample, until } from '../helpers/bridge.ts';
import { type PodRun, podmanRunOf } from '../helpers/pod.ts';
import { type RunningPrometheus, startPrometheusAsOperator } from '../helpers/prometheus.ts';
import { render } from '../k8s/render.ts';

const exec = promisify(execFile);

/**
 * The bridge image as k8s/base runs it: built with podman from the repository's Containerfile
 * on a local stand-in for its base image (scripts/base-image.ts), started with the rendered
 * StatefulSet's command, user, read-only root, capabilities, volumes and limits, behind the
 * Worker's deploy bundle, scraped by a real Prometheus as the ServiceMonitor says.
 */
describe('the bridge image, run as the StatefulSet runs it', { timeout: 900_000 }, () => {
  const name = `mcp-bridge-test-${process.pid}`;
  let pod: PodRun;
  let edge: LocalEdge | undefined;
  let client: Client | undefined;
  let prometheus: RunningPrometheus | undefined;
  let metrics = '';

  beforeAll(async () => {
    const objects = await render('base');
    const scratch = await mkdtemp(join(tmpdir(), 'bridge-image-'));
    const secret = randomBytes(32).toString('hex');
    const hostPorts = { http: await freePort(), metrics: await freePort() };
    pod = podmanRunOf(objects, 'mcp-bridge', {
      secrets: { 'mcp-bridge-signing': { secret } },
      hostPorts,
      scratch,
    });
    const { stdout: revision } = await exec('git', ['rev-parse', 'HEAD'], { cwd: repo });
    const base = await baseImage();
    await podman(
      ['build', '--build-arg', `NODE_IMAGE=${base}`, '--build-arg', `REVISION=${revision.trim()}`].concat([
        '--tag',
        pod.image,
        '--file',
        join(repo, 'Containerfile'),
        repo,
      ]),
      600_000,
    );
    await podman(['run', '--detach', '--name', name, ...pod.args]);
    const bridgeUrl = `http://127.0.0.1:${hostPorts.http}`;
    await until(
      async () => (await fetch(`${bridgeUrl}${pod.readinessPath}`).catch(() => undefined))?.ok || undefined,
      'the container ready',
      60_000,
    );
    const documents = join(scratch, 'servers');
    mkdirSync(documents);
    copyFileSync(join(repo, 'servers/everything.json'), join(documents, 'everything.json'));
    const edgePort = await freePort();
    edge = await startLocalEdge(
      { edgePort, documentsDir: documents, edge: 'deployed-bundle' },
      bridgeUrl,
      secret,
    );
    client = await connect(new URL(`${edge.edgeUrl}/everything/mcp`), 'image-test', edge.apiKey);
    metrics = `127.0.0.1:${hostPorts.metrics}`;
    ({ prometheus } = await startPrometheusAsOperator(objects, metrics));
  }, 900_000);

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await edge?.stop();
    await prometheus?.started.stop();
    await podman(['rm', '--force', '--time', '0', name]).catch(() => undefined);
  });

  it('a real client goes Worker → container → stdio server: lists, calls echo, is refused get-env', async () => {
    const names = (await client?.listTools())?.tools.map((t) => t.name) ?? [];
    expect(names).toContain('echo');
    expect(names).not.toContain('get-env');
    const echoed = await client?.callTool({ name: 'echo', arguments: { message: 'from the image' } });
    expect(JSON.stringify(echoed?.content)).toContain('from the image');
    const refused = await client?.callTool({ name: 'get-env', arguments: {} }).catch((e: Error) => e);
    expect(String(refused)).toContain('Tool "get-env" is not permitted for you on MCP server "everything"');
  });

  it('the bridge runs as uid 10001, without capabilities or new privileges, on a read-only root', async () => {
    const { stdout: status } = await podman(['exec', name, 'cat', '/proc/1/status']);
    expect(status).toMatch(/^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    await expect(podman(['exec', name, 'touch', '/app/written'])).rejects.toThrow(/Read-only file system/);
    await podman(['exec', name, 'touch', '/tmp/written']);
  });

  it('Prometheus scrapes the container’s metrics port as the ServiceMonitor says', async () => {
    const calls = async () =>
      (await prometheus?.query('sum(toolhive_mcp_requests_total)'))?.[0]?.value[1] ?? '0';
    const served = sample(
      await (await fetch(`http://${metrics}/metrics`)).text(),
      'toolhive_mcp_requests_total',
    );
    expect(served).toBeGreaterThan(0);
    await until(async () => (Number(await calls()) >= served ? true : undefined), 'the scrape', 60_000);
    const up = await prometheus?.query('up');
    expect(up?.[0]?.value[1]).toBe('1');
  });

  it('an SBOM of the image names what it runs: the bridge’s packages and the stdio servers', async () => {
    const out = await mkdtemp(join(tmpdir(), 'bridge-sbom-'));
    const paths = await imageSbom(pod.image, out);
    const components = (path: string) =>
      (
        JSON.parse(readFileSync(path, 'utf8')) as { components: { name: string; version: string }[] }
      ).components.map((c) => `${c.name}@${c.version}`);
    const sdk = JSON.parse(
      (
        await podman([
          'run',
          '--rm',
          '--entrypoint',
          'cat',
          pod.image,
          '/app/node_modules/@modelcontextprotocol/sdk/package.json',
        ])
      ).stdout,
    ) as { version: string };
    const app = components(paths.app);
    expect(app).toContain(`@modelcontextprotocol/sdk@${sdk.version}`);
    expect(app.some((c) => c.startsWith('vitest@'))).toBe(false);
    const servers =
      readFileSync(join(repo, 'Containerfile'), 'utf8').match(/MCP_SERVERS="([^"]+)"/)?.[1] ?? '';
    expect(components(paths.servers)).toEqual(expect.arrayContaining(servers.split(' ')));
  });

  it('podman stop sends SIGTERM: a call in flight finishes, then the bridge exits 0 before the grace ends', async () => {
    let progressed: () => void = () => undefined;
    const first = new Promise<void>((resolve) => {
      progressed = resolve;
    });
    const call = client?.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 3, steps: 3 } },
      undefined,
      { onprogress: () => progressed() },
    );
    await first;
    const stopped = podman(['stop', '--time', String(pod.graceSeconds), name]);
    const result = await call;
    expect(JSON.stringify(result?.content)).toContain('Long running operation completed');
    await stopped;
    const { stdout } = await podman(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', name]);
    expect(stdout.trim()).toBe('exited 0');
  });
});
