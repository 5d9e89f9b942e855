import { z } from 'zod';

/**
 * Where a server's code comes from, so a client or admin can see what exactly runs behind
 * a name. `pinningProblems` is what `mcpgw validate --strict` holds production documents to.
 */

const Digest = /@sha256:[0-9a-f]{64}$/;
const ExactVersion = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

const OciArtifact = z
  .object({
    type: z.literal('oci'),
    image: z
      .string()
      .min(1)
      .max(512)
      .regex(/^[a-z0-9][\w./:-]*(?:@sha256:[0-9a-f]{64})?$/, 'registry/repository[:tag][@sha256:digest]')
      .describe('Pinned when it ends in @sha256:<digest>'),
  })
  .strict();

const NpmArtifact = z
  .object({
    type: z.literal('npm'),
    package: z
      .string()
      .regex(/^(?:@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/, 'an npm package name')
      .max(214),
    version: z.string().min(1).max(128).describe('Pinned when exact (1.2.3), not a range'),
    integrity: z
      .string()
      .regex(/^sha(?:256|384|512)-[A-Za-z0-9+/]+={0,2}$/, 'an SRI hash as in package-lock.json')
      .optional()
      .describe("The tarball's hash (npm view <pkg>@<version> dist.integrity)"),
  })
  .strict();

export const ProvenanceSchema = z
  .object({
    artifact: z.discriminatedUnion('type', [OciArtifact, NpmArtifact]),
    source: z
      .object({
        repository: z.url().max(512),
        commit: z
          .string()
          .regex(/^[0-9a-f]{40}$/, 'a full 40-character commit id')
          .optional(),
      })
      .strict()
      .optional(),
    publisher: z.string().min(1).max(256).optional(),
    builder: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .describe('Who or what built the artifact, e.g. a CI workflow'),
    builtAt: z.iso.datetime().optional(),
    signature: z
      .object({
        verified: z.boolean(),
        method: z.enum(['cosign', 'npm-provenance', 'gpg']),
        identity: z.string().max(512).optional().describe('Who signed, e.g. the certificate identity'),
        checkedAt: z.iso.datetime(),
      })
      .strict()
      .optional()
      .describe('The result of the last signature check, and when it ran'),
  })
  .strict();

export type Provenance = z.output<typeof ProvenanceSchema>;

/** Why an artifact is not pinned to exact bytes (empty when it is). */
export function pinningProblems(provenance: Provenance | undefined): string[] {
  if (provenance === undefined)
    return ['provenance: required in strict mode (a pinned image digest or npm version + integrity)'];
  const { artifact, signature } = provenance;
  const problems: string[] = [];
  if (artifact.type === 'oci' && !Digest.test(artifact.image))
    problems.push(`provenance.artifact.image: "${artifact.image}" is not pinned by @sha256 digest`);
  if (artifact.type === 'npm') {
    if (!ExactVersion.test(artifact.version))
      problems.push(`provenance.artifact.version: "${artifact.version}" is a range, not an exact version`);
    if (artifact.integrity === undefined)
      problems.push('provenance.artifact.integrity: required in strict mode (the tarball hash)');
  }
  if (signature?.verified === false)
    problems.push(`provenance.signature: the ${signature.method} check failed at ${signature.checkedAt}`);
  return problems;
}
