import { availableParallelism } from 'node:os';
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// Tests reach nothing beyond 127.0.0.1: no Request.cf download, no wrangler telemetry.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';

export default defineConfig({
  test: {
    // Vitest's default on 2 cores is one file at a time, while most e2e time is spent waiting on
    // the processes a file starts: two at a time took the quiet suite from 16 min 25 s to 12 min.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      {
        test: {
          name: 'node',
          include: [
            'test/shared/**/*.test.ts',
            'test/bridge/**/*.test.ts',
            'test/admin/**/*.test.ts',
            'test/e2e/**/*.test.ts',
            'test/k8s/**/*.test.ts',
            'test/deploy/**/*.test.ts',
            'test/docs/**/*.test.ts',
          ],
          environment: 'node',
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        // shared/ runs in both runtimes: its tests run again inside workerd.
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                BRIDGE_SIGNING_SECRET: 'workerd-test-secret-0123456789abcdef',
                OIDC_ISSUER: 'https://issuer.test/',
                OIDC_JWKS_URL: `${inject('upstream')}/jwks.json`,
              },
            },
          })),
        ],
        test: {
          name: 'workerd',
          globalSetup: ['test/workers/upstream.global.ts'],
          // Vitest's 5 s default fails a fuzzing test on a busy machine; the bound only catches hangs.
          testTimeout: 30_000,
          hookTimeout: 30_000,
          include: ['test/shared/**/*.test.ts', 'test/workers/**/*.test.ts'],
          exclude: ['test/shared/purity.test.ts'],
        },
      },
    ],
  },
});
