import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { find, type K8sObject } from '../k8s/render.ts';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  resources?: { limits?: { cpu?: string; memory?: string } };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  [probe: string]: unknown;
}

interface PodSpec {
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    runAsGroup?: number;
    fsGroup?: number;
    seccompProfile?: { type: string };
  };
  terminationGracePeriodSeconds?: number;
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string }; emptyDir?: { sizeLimit?: string } }[];
  [field: string]: unknown;
}

/** What the pod needs from the test: a Secret's values, and where each named port is published. */
export interface PodInputs {
  secrets: Record<string, Record<string, string>>;
  hostPorts: Record<string, number>;
  /** A folder to write ConfigMap volumes into. */
  scratch: string;
}

export interface PodRun {
  image: string;
  /** `podman run` options, then the image, then its arguments. */
  args: string[];
  /** terminationGracePeriodSeconds: what `podman stop --time` gets, as the kubelet would wait. */
  graceSeconds: number;
  readinessPath: string;
}

const containerFields = new Set([
  'name',
  'image',
  'command',
  'args',
  'env',
  'ports',
  'resources',
  'securityContext',
  'volumeMounts',
  'readinessProbe',
  'livenessProbe',
  'startupProbe',
]);
/** Pod fields a single container on one machine has nothing to do for. */
const podFields = new Set([
  'securityContext',
  'terminationGracePeriodSeconds',
  'containers',
  'volumes',
  'automountServiceAccountToken',
  'enableServiceLinks',
]);

function refuseUnknown(fields: object, known: Set<string>, where: string): void {
  const unknown = Object.keys(fields).filter((field) => !known.has(field));
  if (unknown.length > 0)
    throw new Error(`${where} sets ${unknown.join(', ')}: carry it into podman run here`);
}

/** Kubernetes quantities as podman takes them: 1Gi → 1g, 512Mi → 512m. */
function memory(quantity: string): string {
  const match = /^(\d+)(Gi|Mi)$/.exec(quantity);
  if (match === null) throw new Error(`memory ${quantity}: only Gi and Mi are carried`);
  return `${match[1]}${match[2] === 'Gi' ? 'g' : 'm'}`;
}

function securityOptions(pod: PodSpec, container: Container): string[] {
  const pods = pod.securityContext ?? {};
  const own = container.securityContext ?? {};
  if (pods.runAsNonRoot && (pods.runAsUser ?? 0) === 0)
    throw new Error('runAsNonRoot without a non-root runAsUser');
  if (pods.seccompProfile !== undefined && pods.seccompProfile.type !== 'RuntimeDefault') {
    throw new Error(
      `seccompProfile ${pods.seccompProfile.type}: only RuntimeDefault (podman's default) is carried`,
    );
  }
  return [
    ...(pods.runAsUser === undefined
      ? []
      : ['--user', `${pods.runAsUser}:${pods.runAsGroup ?? pods.runAsUser}`]),
    ...(pods.fsGroup === undefined ? [] : ['--group-add', String(pods.fsGroup)]),
    ...(own.allowPrivilegeEscalation === false ? ['--security-opt', 'no-new-privileges'] : []),
    // podman's --read-only adds writable tmpfs at /tmp, /run and /var/tmp; a pod gets none.
    ...(own.readOnlyRootFilesystem ? ['--read-only', '--read-only-tmpfs=false'] : []),
    ...(own.capabilities?.drop ?? []).flatMap((cap) => ['--cap-drop', cap]),
    ...(own.capabilities?.add ?? []).flatMap((cap) => ['--cap-add', cap]),
  ];
}

function volumeOptions(pod: PodSpec, container: Container, objects: K8sObject[], scratch: string): string[] {
  return (container.volumeMounts ?? []).flatMap((mount) => {
    const volume = pod.volumes?.find((v) => v.name === mount.name);
    if (volume?.configMap !== undefined) {
      const dir = join(scratch, mount.name);
      mkdirSync(dir, { recursive: true });
      for (const [file, text] of Object.entries(
        find(objects, 'ConfigMap', volume.configMap.name).data ?? {},
      )) {
        writeFileSync(join(dir, file), text, { mode: 0o644 });
      }
      chmodSync(dir, 0o755);
      return ['--volume', `${dir}:${mount.mountPath}:${mount.readOnly ? 'ro' : 'rw'}`];
    }
    if (volume?.emptyDir !== undefined) {
      const size =
        volume.emptyDir.sizeLimit === undefined ? '' : `,tmpfs-size=${memory(volume.emptyDir.sizeLimit)}`;
      return ['--mount', `type=tmpfs,destination=${mount.mountPath},tmpfs-mode=1777${size}`];
    }
    throw new Error(`volume ${mount.name}: only configMap and emptyDir volumes are carried`);
  });
}

function environment(container: Container, secrets: PodInputs['secrets']): string[] {
  return (container.env ?? []).flatMap(({ name, value, valueFrom }) => {
    const ref = valueFrom?.secretKeyRef;
    const resolved = ref === undefined ? value : secrets[ref.name]?.[ref.key];
    if (resolved === undefined) throw new Error(`env ${name}: no value, and no test secret for it`);
    return ['--env', `${name}=${resolved}`];
  });
}

/**
 * `podman run` for the one container of a rendered StatefulSet, carried field by field: its
 * command, user, read-only root, capabilities, privilege escalation, volumes, environment,
 * limits and ports. A field it does not know fails the test, so that the manifest cannot grow
 * something the container under test silently lacks.
 */
export function podmanRunOf(objects: K8sObject[], statefulSet: string, inputs: PodInputs): PodRun {
  const template = (find(objects, 'StatefulSet', statefulSet).spec as { template: { spec: PodSpec } })
    .template;
  const pod = template.spec;
  refuseUnknown(pod, podFields, 'the pod');
  const [container, ...more] = pod.containers;
  if (container === undefined || more.length > 0) throw new Error('one container per pod is carried');
  refuseUnknown(container, containerFields, `container ${container.name}`);
  const limits = container.resources?.limits ?? {};
  const ports = (container.ports ?? []).flatMap((port) => {
    const host = inputs.hostPorts[port.name];
    if (host === undefined) throw new Error(`port ${port.name}: no host port given`);
    return ['--publish', `127.0.0.1:${host}:${port.containerPort}`];
  });
  const readiness = container.readinessProbe as { httpGet?: { path: string } } | undefined;
  return {
    image: container.image,
    args: [
      ...securityOptions(pod, container),
      ...volumeOptions(pod, container, objects, inputs.scratch),
      ...environment(container, inputs.secrets),
      ...(limits.memory === undefined ? [] : ['--memory', memory(limits.memory)]),
      ...(limits.cpu === undefined ? [] : ['--cpus', limits.cpu]),
      ...ports,
      ...(container.command === undefined ? [] : ['--entrypoint', JSON.stringify(container.command)]),
      container.image,
      ...(container.args ?? []),
    ],
    graceSeconds: pod.terminationGracePeriodSeconds ?? 30,
    readinessPath: readiness?.httpGet?.path ?? '/',
  };
}
