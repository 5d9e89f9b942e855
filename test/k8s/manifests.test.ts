import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../bridge/config.ts';
import { bridgeCommand } from '../../scripts/processes.ts';
import { repo } from '../helpers/bridge.ts';
import { find, type K8sObject, readObjects, render, validateObject } from './render.ts';

const exec = promisify(execFile);

interface Container {
  name: string;
  image: string;
  args?: string[];
  securityContext?: Record<string, unknown>;
  resources?: { requests?: unknown; limits?: unknown };
  readinessProbe?: { httpGet?: { path: string } };
  livenessProbe?: { httpGet?: { path: string } };
}
interface PodSpec {
  securityContext?: Record<string, unknown>;
  containers: Container[];
  volumes?: { name: string; emptyDir?: unknown; configMap?: { name: string } }[];
}
const podOf = (o: K8sObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;

describe.each(['base', 'overlays/dev', 'overlays/prod'])('k8s/%s', (overlay) => {
  it('renders, and every object is valid against its schema', async () => {
    const objects = await render(overlay);
    expect(objects.length).toBeGreaterThanOrEqual(10);
    for (const object of objects) {
      await expect(validateObject(object), `${object.kind}/${object.metadata.name}`).resolves.toBeUndefined();
    }
  });

  it('runs every container non-root, read-only, without capabilities, with limits', async () => {
    const workloads = (await render(overlay)).filter(
      (o) => o.kind === 'StatefulSet' || o.kind === 'Deployment',
    );
    expect(workloads.map((w) => w.kind).sort()).toEqual(['Deployment', 'StatefulSet']);
    for (const workload of workloads) {
      const pod = podOf(workload);
      expect(pod.securityContext, workload.metadata.name).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      for (const container of pod.containers) {
        expect(container.securityContext, container.name).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(container.resources?.requests, container.name).toBeDefined();
        expect(container.resources?.limits, container.name).toBeDefined();
      }
    }
  });

  it('configures the bridge with a file its own schema accepts', async () => {
    const objects = await render(overlay);
    const config = find(objects, 'ConfigMap', 'mcp-bridge-config');
    const parsed = parseConfig(
      (await import('yaml')).parse(config.data?.['bridge.yaml'] ?? ''),
      `${overlay} bridge.yaml`,
    );
    expect(parsed.edge.signatures).toBe('required');
    expect(parsed.peers?.url).toBe('http://{instance}.mcp-bridge-peers:8080');
    const pod = podOf(find(objects, 'StatefulSet', 'mcp-bridge'));
    expect(pod.volumes?.find((v) => v.name === 'config')?.configMap?.name).toBe(config.metadata.name);
  });

  it('admits sessions by the pod’s memory limit, with its warm children inside the request', async () => {
    const objects = await render(overlay);
    const config = parseConfig(
      (await import('yaml')).parse(
        find(objects, 'ConfigMap', 'mcp-bridge-config').data?.['bridge.yaml'] ?? '',
      ),
      `${overlay} bridge.yaml`,
    );
    const { resources } = podOf(find(objects, 'StatefulSet', 'mcp-bridge')).containers[0] as Container;
    const memoryOf = (quantities: unknown) =>
      bytesOf((quantities as { memory?: string } | undefined)?.memory ?? '');
    const limit = memoryOf(resources?.limits);
    const request = memoryOf(resources?.requests);
    // The bridge reads the cgroup limit itself: a figure of its own could only disagree with it.
    expect(config.memory.limitBytes).toBeUndefined();
    const { childEstimateBytes: child, admitBelow } = config.memory;
    const warm = config.servers.reduce((sum, s) => sum + (s.sessions === 'isolated' ? s.pool : 1), 0);
    // What a pod holds with no session at all (the bridge ~120 MiB, issue 22), asked for up front.
    expect(request).toBeGreaterThanOrEqual(bridgeIdleBytes + warm * child);
    const sessions = Math.floor((limit * admitBelow - bridgeIdleBytes - warm * child) / child);
    expect(
      sessions,
      `${overlay}: isolated sessions the memory admits beside the warm pools`,
    ).toBeGreaterThanOrEqual(4);
    for (const server of config.servers) expect(server.limits.maxSessions).toBeGreaterThan(sessions);
  });
});

const bridgeIdleBytes = 128 * 2 ** 20;

/** A Kubernetes memory quantity in bytes (the binary suffixes these manifests use). */
function bytesOf(quantity: string): number {
  const [, number, unit] = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity) ?? [];
  const scale = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[unit ?? ''] ?? 1;
  if (number === undefined) throw new Error(`unexpected memory quantity ${quantity}`);
  return Number(number) * scale;
}

describe('the bridge StatefulSet', async () => {
  const objects = await render('overlays/prod');
  const statefulSet = find(objects, 'StatefulSet', 'mcp-bridge');
  const bridge = podOf(statefulSet).containers[0] as Container;

  it('has stable pod names reachable through the headless Service its peers URL names', () => {
    expect((statefulSet.spec as { serviceName: string }).serviceName).toBe('mcp-bridge-peers');
    const peers = find(objects, 'Service', 'mcp-bridge-peers').spec as Record<string, unknown>;
    expect(peers).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect((statefulSet.spec as { replicas: number }).replicas).toBe(3);
  });

  it('checks readiness on /readyz and liveness on /healthz, and takes its secret from a Secret', () => {
    expect(bridge.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(bridge.livenessProbe?.httpGet?.path).toBe('/healthz');
    const env = (
      bridge as unknown as { env: { name: string; valueFrom?: { secretKeyRef?: { name: string } } }[] }
    ).env;
    expect(env.find((e) => e.name === 'BRIDGE_SIGNING_SECRET')?.valueFrom?.secretKeyRef?.name).toBe(
      'mcp-bridge-signing',
    );
    expect(podOf(statefulSet).volumes?.find((v) => v.name === 'scratch')?.emptyDir).toBeDefined();
  });

  it('runs the image the way the tests start the bridge', () => {
    const containerfile = readFileSync(join(repo, 'Containerfile'), 'utf8');
    const entrypoint = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(containerfile)?.[1] ?? '[]') as string[];
    expect(entrypoint).toEqual(['node', ...bridgeCommand]);
    expect(bridge.args).toEqual(['--config', '/etc/mcp-bridge/bridge.yaml']);
    for (const from of containerfile.matchAll(/^ARG NODE_IMAGE=(.*)$/gm))
      expect(from[1]).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(containerfile).toMatch(/^USER 10001:10001$/m);
    expect(containerfile).toMatch(/org\.opencontainers\.image\.revision="\$\{REVISION\}"/);
  });
});

describe('monitoring, network and the tunnel', async () => {
  const objects = await render('overlays/prod');

  it('scrapes the regular Service only (not the headless one), on the named metrics port every 30 s', () => {
    const monitor = find(objects, 'ServiceMonitor', 'mcp-bridge').spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path: string; interval: string }[];
    };
    expect(monitor.endpoints).toEqual([
      { port: 'metrics', path: '/metrics', interval: '30s', scheme: 'http' },
    ]);
    const selected = objects.filter(
      (o) =>
        o.kind === 'Service' &&
        Object.entries(monitor.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v),
    );
    expect(selected.map((s) => s.metadata.name)).toEqual(['mcp-bridge']);
    const service = find(objects, 'Service', 'mcp-bridge');
    const ports = (service.spec as { ports: { name: string }[] }).ports.map((p) => p.name);
    expect(ports).toContain('metrics');
  });

  it('lets in only the tunnel and other bridge pods (MCP) and Prometheus (metrics)', () => {
    const policy = find(objects, 'NetworkPolicy', 'mcp-bridge').spec as {
      ingress: {
        from: { podSelector?: { matchLabels: Record<string, string> } }[];
        ports: { port: string }[];
      }[];
    };
    const rules = policy.ingress.map((rule) => ({
      ports: rule.ports.map((p) => p.port),
      from: rule.from.map((f) => f.podSelector?.matchLabels['app.kubernetes.io/name']),
    }));
    expect(rules).toEqual([
      { ports: ['http'], from: ['cloudflared', 'mcp-bridge'] },
      { ports: ['metrics'], from: ['prometheus'] },
    ]);
  });

  it('runs two cloudflared replicas of a recent version, pinned by digest, ready on /ready', () => {
    const tunnel = find(objects, 'Deployment', 'cloudflared');
    expect((tunnel.spec as { replicas: number }).replicas).toBe(2);
    const container = podOf(tunnel).containers[0] as Container;
    const version = /cloudflared:(\d+)\.(\d+)\.\d+@sha256:[0-9a-f]{64}$/.exec(container.image);
    expect(version, container.image).not.toBeNull();
    expect(Number(version?.[1]) * 100 + Number(version?.[2])).toBeGreaterThanOrEqual(2025 * 100 + 7);
    expect(container.readinessProbe?.httpGet?.path).toBe('/ready');
    expect(container.args).toContain('run');
  });

  it('has alert rules promtool accepts', async () => {
    const rule = find(objects, 'PrometheusRule', 'mcp-bridge');
    const dir = await mkdtemp(join(tmpdir(), 'rules-'));
    const file = join(dir, 'rules.yaml');
    writeFileSync(file, stringify({ groups: (rule.spec as { groups: unknown }).groups }));
    const { stdout } = await exec('promtool', ['check', 'rules', file], { timeout: 30_000 });
    expect(stdout).toMatch(/SUCCESS: 9 rules found/);
  });

  it('ships the dashboard as a ConfigMap the Grafana sidecar picks up', () => {
    const dashboard = find(objects, 'ConfigMap', 'mcp-bridge-dashboard');
    expect(dashboard.metadata.labels?.grafana_dashboard).toBe('1');
    const json = JSON.parse(dashboard.data?.['mcp-bridge.json'] ?? '{}') as {
      uid: string;
      panels: unknown[];
    };
    expect(json.uid).toBe('mcp-bridge');
    expect(json.panels.length).toBeGreaterThanOrEqual(6);
  });
});

describe('the Argo CD Application', () => {
  it('is valid and follows the prod overlay', async () => {
    const [app] = readObjects('k8s/argocd/application.yaml');
    if (app === undefined) throw new Error('no Application');
    await validateObject(app);
    expect(app.spec).toMatchObject({
      source: { path: 'k8s/overlays/prod' },
      syncPolicy: { automated: { prune: true } },
    });
  });
});
