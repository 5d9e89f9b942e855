import { describe, expect, it } from 'vitest';
import { parseDocument } from '../../shared/policy/document.ts';
import { type Provenance, ProvenanceSchema, pinningProblems } from '../../shared/registry/provenance.ts';

const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
const checkedAt = '2026-11-20T10:00:00Z';

function provenance(input: unknown): Provenance {
  return ProvenanceSchema.parse(input);
}

describe('provenance pinning (validate --strict)', () => {
  it('accepts an image pinned by digest and an npm package with exact version and integrity', () => {
    expect(
      pinningProblems(provenance({ artifact: { type: 'oci', image: `ghcr.io/acme/mcp@${digest}` } })),
    ).toEqual([]);
    expect(
      pinningProblems(
        provenance({
          artifact: { type: 'npm', package: '@acme/mcp', version: '1.2.3-rc.1', integrity: 'sha512-abc+/=' },
          signature: { verified: true, method: 'npm-provenance', checkedAt },
        }),
      ),
    ).toEqual([]);
  });

  it('names every way an artifact is not pinned', () => {
    expect(pinningProblems(undefined)).toEqual([
      expect.stringMatching(/^provenance: required in strict mode/),
    ]);
    expect(
      pinningProblems(provenance({ artifact: { type: 'oci', image: 'ghcr.io/acme/mcp:latest' } })),
    ).toEqual(['provenance.artifact.image: "ghcr.io/acme/mcp:latest" is not pinned by @sha256 digest']);
    expect(
      pinningProblems(provenance({ artifact: { type: 'npm', package: 'acme-mcp', version: '^1.2.0' } })),
    ).toEqual([
      'provenance.artifact.version: "^1.2.0" is a range, not an exact version',
      'provenance.artifact.integrity: required in strict mode (the tarball hash)',
    ]);
    expect(
      pinningProblems(
        provenance({
          artifact: { type: 'oci', image: `ghcr.io/acme/mcp@${digest}` },
          signature: { verified: false, method: 'cosign', checkedAt },
        }),
      ),
    ).toEqual([`provenance.signature: the cosign check failed at ${checkedAt}`]);
  });

  it('is checked by the document schema, field by field', () => {
    const bad = parseDocument({
      version: 1,
      name: 'x',
      upstream: { url: 'https://bridge.example/x/mcp' },
      provenance: {
        artifact: { type: 'npm', package: 'Not A Name', version: '1.0.0', integrity: 'md5-xyz' },
        source: { repository: 'https://github.com/a/b', commit: 'abc' },
      },
    });
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.problems).toEqual([
        'provenance.artifact.package: an npm package name',
        'provenance.artifact.integrity: an SRI hash as in package-lock.json',
        'provenance.source.commit: a full 40-character commit id',
      ]);
    }
  });
});
