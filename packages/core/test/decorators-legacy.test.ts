import { execFile } from 'node:child_process'
import { rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

// experimentalDecorators cannot be turned on for one test file inside the runner, so legacy-decorators/ is a
// small TypeScript project of its own (experimentalDecorators + emitDecoratorMetadata), compiled by `tsc -p`
// and run by node against the built @tiercache/core.
const run = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..', '..')
const project = join(here, 'legacy-decorators')
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
// Per process, so two runs at once do not overwrite each other's output.
const outDir = join(project, '.tmp', String(process.pid))

afterAll(() => rmSync(outDir, { recursive: true, force: true }))

describe('legacy decorators (experimentalDecorators), compiled by tsc -p and run by node', () => {
  it('type-checks (every @ts-expect-error in types.ts is an error), compiles and passes its checks', async () => {
    // The program imports @tiercache/core by name, i.e. packages/core/dist: build it first (a no-op when fresh).
    await run(process.execPath, [tsc, '-b', join(root, 'packages/core')], { cwd: root })
    const compiled = await run(
      process.execPath,
      [tsc, '-p', join(project, 'tsconfig.json'), '--outDir', outDir],
      {
        cwd: root,
      },
    ).catch((error: { stdout?: string }) => ({ stdout: `tsc failed:\n${error.stdout ?? error}` }))
    expect(compiled.stdout).toBe('')
    const { stdout } = await run(process.execPath, [join(outDir, 'main.js')], {
      cwd: root,
      timeout: 20_000,
    }).catch((error: { stdout?: string; code?: number }) => ({
      stdout: `exit ${error.code}\n${error.stdout}`,
    }))
    const lines = stdout.trim().split('\n')
    expect(lines.filter((line) => !line.startsWith('ok - '))).toEqual([
      'legacy decorators: all 12 checks passed',
    ])
    expect(lines).toContain('ok - misuse is reported when the class is defined')
  }, 90_000)
})
