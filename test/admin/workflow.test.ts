import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repo } from '../helpers/bridge.ts';

interface Workflow {
  on: { pull_request: { paths: string[] }; push: { branches: string[] } };
  jobs: Record<string, { if: string; steps: { run?: string }[] }>;
}

describe('the GitOps workflow example', () => {
  const workflow = parse(readFileSync(join(repo, '.github/workflows/gitops.yml'), 'utf8')) as Workflow;
  const runs = (job: string) => (workflow.jobs[job]?.steps ?? []).flatMap((s) => (s.run ? [s.run] : []));

  it('validates and plans on pull requests that touch server documents', () => {
    expect(workflow.on.pull_request.paths).toContain('servers/**');
    expect(runs('plan')).toEqual([
      'npm ci',
      'npx mcpgw validate --strict --remote',
      'npx mcpgw diff --remote > plan.txt',
    ]);
  });

  it('applies on merge to main, after validating again', () => {
    expect(workflow.on.push.branches).toEqual(['main']);
    expect(runs('apply')).toEqual([
      'npm ci',
      'npx mcpgw validate --strict',
      'npx mcpgw apply --remote --strict --yes',
      'npx mcpgw status --remote',
    ]);
  });
});
