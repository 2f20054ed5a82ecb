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
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    pool: 'forks',
    // Two cores: topologies of up to six redis-server processes must not be starved by parallel files.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 90_000,
    teardownTimeout: 30_000,
  },
})
