import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { TIERCACHE_ACL_COMMANDS, TIERCACHE_CLUSTER_ACL_COMMANDS } from '@tiercache/testkit'
import { expect, it } from 'vitest'

// docs/security.md gives operators the least-privilege ACL command list; the auth tests of every store run
// a user with the testkit's list. This keeps the two the same.
it("docs/security.md shows exactly the command list the stores' least-privilege tests use", () => {
  const page = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'security.md'), 'utf8')
  expect(page).toContain(`-@all ${TIERCACHE_ACL_COMMANDS}\n`)
  expect(page).toContain(`\`${TIERCACHE_CLUSTER_ACL_COMMANDS}\` on Cluster`)
})
