import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFiles, documentFiles } from '../../admin/files.ts';
import { gateCall, type Principal } from '../../shared/policy/policy.ts';
import { repo } from '../helpers/bridge.ts';

const viewer: Principal = { subject: 'v', groups: ['viewers'], method: 'jwt' };
const operator: Principal = { subject: 'o', groups: ['operators'], method: 'jwt' };

describe('the example documents that mirror the ToolHive lab', () => {
  const examples = checkFiles(documentFiles(join(repo, 'examples/servers')));
  const demo = checkFiles(documentFiles(join(repo, 'servers')));
  const checked = { documents: [...examples.documents, ...demo.documents] };
  const doc = (name: string, from = checked) => {
    const found = from.documents.find((d) => d.document.name === name)?.document;
    if (!found) throw new Error(`no example named ${name}`);
    return found;
  };

  it('are all valid: the lab examples, and the demo npm start runs', () => {
    expect([...examples.problems, ...demo.problems]).toEqual([]);
    // Each says what it serves of prompts and resources, so none relies on the default.
    expect([...examples.warnings, ...demo.warnings]).toEqual([]);
    expect(examples.documents.map((d) => d.document.name)).toEqual(['fetch', 'openshift', 'yardstick']);
    expect(demo.documents.map((d) => d.document.name)).toEqual(['everything', 'fetch', 'yardstick']);
  });

  it('pass strict validation where pinned, and say what to pin where not', () => {
    const strict = checkFiles(
      examples.documents.map((d) => d.file),
      { strict: true },
    );
    expect(strict.problems).toEqual([
      expect.stringMatching(
        /fetch\.json: provenance\.artifact\.image: "ghcr.io\/stackloklabs\/gofetch\/server:1\.0\.2" is not pinned/,
      ),
      expect.stringMatching(
        /yardstick\.json: provenance\.artifact\.image: ".*yardstick-server:1\.1\.0" is not pinned/,
      ),
    ]);
  });

  it('say truthfully which server-everything runs: the version and integrity npm locked', () => {
    const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
    const locked = lock.packages['node_modules/@modelcontextprotocol/server-everything'];
    expect(doc('everything', demo).provenance?.artifact).toEqual({
      type: 'npm',
      package: '@modelcontextprotocol/server-everything',
      version: locked.version,
      integrity: locked.integrity,
    });
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
