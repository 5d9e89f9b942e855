import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFiles, documentFiles } from '../../admin/files.ts';
import { gateCall, type Principal } from '../../shared/policy.ts';
import { repo } from '../helpers/bridge.ts';

const viewer: Principal = { subject: 'v', groups: ['viewers'], method: 'jwt' };
const operator: Principal = { subject: 'o', groups: ['operators'], method: 'jwt' };

describe('the example documents that mirror the ToolHive lab', () => {
  const checked = checkFiles([
    ...documentFiles(join(repo, 'examples/servers')),
    ...documentFiles(join(repo, 'servers')),
  ]);
  const doc = (name: string) => {
    const found = checked.documents.find((d) => d.document.name === name)?.document;
    if (!found) throw new Error(`no example named ${name}`);
    return found;
  };

  it('are all valid', () => {
    expect(checked.problems).toEqual([]);
    expect(checked.documents.map((d) => d.document.name).sort()).toEqual([
      'everything',
      'fetch',
      'openshift',
      'yardstick',
    ]);
  });

  it('keep the OpenShift server read-only for viewers, as the lab’s toolsFilter did', () => {
    const openshift = doc('openshift');
    for (const tool of ['pods_list', 'pods_log', 'namespaces_list', 'events_list']) {
      expect(gateCall(openshift, viewer, tool).allowed, tool).toBe(true);
    }
    for (const tool of ['pods_delete', 'pods_exec', 'resources_delete', 'helm_install']) {
      expect(gateCall(openshift, viewer, tool).allowed, tool).toBe(false);
    }
  });

  it('let operators delete pods but never exec into them', () => {
    const openshift = doc('openshift');
    expect(gateCall(openshift, operator, 'pods_delete').allowed).toBe(true);
    expect(gateCall(openshift, operator, 'pods_exec').allowed).toBe(false);
  });
});
