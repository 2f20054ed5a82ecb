import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url))

// Tests import the packages by name; the aliases point them at the TypeScript sources so a test run
// never depends on a stale dist/. The packed-tarball test (test/packaging) checks the built packages.
export default defineConfig({
  resolve: {
    alias: {
      '@tiercache/core': src('core'),
      '@tiercache/redis': src('redis'),
      '@tiercache/sentinel': src('sentinel'),
      '@tiercache/cluster': src('cluster'),
      '@tiercache/testkit': src('testkit'),
    },
  },
  test: {
    // The soaks (test/soak: 36 s of 64 callers each) run after everything else, so the chaos tests' time
    // bounds are never measured next to them on two cores; the two soaks run side by side.
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
          exclude: ['test/soak/**', '**/node_modules/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'soak', include: ['test/soak/**/*.test.ts'], sequence: { groupOrder: 1 } },
      },
    ],
    pool: 'forks',
    // Two cores: topologies of up to six redis-server processes must not be starved by parallel files.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 90_000,
    teardownTimeout: 30_000,
  },
})
