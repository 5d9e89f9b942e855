import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

/** The compatibility date the bundled workerd supports (see docs/development.md). */
export const compatibilityDate = '2026-11-01';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/shared/**/*.test.ts', 'test/bridge/**/*.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        // shared/ runs in both runtimes: its tests run again inside workerd.
        plugins: [
          cloudflareTest({ miniflare: { compatibilityDate, compatibilityFlags: ['nodejs_compat'] } }),
        ],
        test: {
          name: 'workerd',
          include: ['test/shared/**/*.test.ts', 'test/workers/**/*.test.ts'],
          exclude: ['test/shared/purity.test.ts'],
        },
      },
    ],
  },
});
