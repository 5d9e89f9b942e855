import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { repo } from '../helpers/bridge.ts';

const exec = promisify(execFile);

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  [field: string]: unknown;
}

function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** `kubectl kustomize` (built into kubectl), as Argo CD or `kubectl apply -k` would render it. */
export async function render(overlay: string): Promise<K8sObject[]> {
  const { stdout } = await exec('kubectl', ['kustomize', join(repo, 'k8s', overlay)], {
    maxBuffer: 16 * 1024 * 1024,
    timeout: 30_000,
  });
  return parseObjects(stdout);
}

export function readObjects(file: string): K8sObject[] {
  return parseObjects(readFileSync(join(repo, file), 'utf8'));
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name.startsWith(name));
  if (!found)
    throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`)}`);
  return found;
}

const modules: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  'argoproj.io/v1alpha1': '@kubernetes-models/argo-cd/argoproj.io/v1alpha1',
};

/** Validates one object against its kind's OpenAPI schema; throws what is wrong. */
export async function validateObject(object: K8sObject): Promise<void> {
  const module = modules[object.apiVersion];
  if (module === undefined) throw new Error(`no schema known for ${object.apiVersion}`);
  const models = (await import(module)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = models[object.kind];
  if (Model === undefined) throw new Error(`no schema known for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}
