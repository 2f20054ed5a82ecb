import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  type ClusterTopology,
  redisBinary,
  type StandaloneTopology,
  startCluster,
  startStandalone,
} from '@tiercache/testkit'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { documentationPages, extractSnippets, type Snippet } from './snippets.js'

// Every ```ts block of docs/*.md and README.md becomes a module under test/docs/.tmp/ (inside the
// workspace, so `@tiercache/*` resolves through the root's workspace links to the built dist/, exactly as
// an application sees the packages), is type-checked with the project's strict NodeNext settings, and the
// blocks marked `run` are executed with node and their output compared with the page's ```text block.
const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const work = join(here, '.tmp', `snippets-${process.pid}`)
const sourceDir = join(work, 'src')
const outDir = join(work, 'out')
const run = promisify(execFile)

const snippets: Snippet[] = documentationPages(root).flatMap((page) => extractSnippets(root, page))
const compiled = snippets.filter((snippet) => snippet.skip === undefined)
/** Diagnostics per snippet id, filled by the compile in beforeAll. */
const diagnostics = new Map<string, string[]>()

function fileOf(snippet: Snippet): string {
  return join(sourceDir, `${snippet.id}.ts`)
}

/** The module written for a snippet: prelude, the block, and `export {}` so it is a module on its own. */
function moduleText(snippet: Snippet): string {
  return `${snippet.prelude}\n${snippet.code}\nexport {}\n`
}

/** A diagnostic as `docs/page.md:line: message`, pointing into the page rather than the temp file. */
function describeDiagnostic(snippet: Snippet, diagnostic: ts.Diagnostic): string {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
  if (diagnostic.file === undefined || diagnostic.start === undefined) return message
  const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
  const preludeLines = snippet.prelude.split('\n').length
  const where =
    line < preludeLines ? `prelude line ${line + 1}` : `${snippet.page}:${snippet.line + line - preludeLines}`
  return `${where}: ${message}`
}

function compile(group: readonly Snippet[], legacyDecorators: boolean): void {
  if (group.length === 0) return
  const { config } = ts.readConfigFile(join(root, 'tsconfig.base.json'), ts.sys.readFile)
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, root)
  const options: ts.CompilerOptions = {
    ...parsed.options,
    composite: false,
    declaration: false,
    declarationMap: false,
    sourceMap: false,
    noEmit: false,
    rootDir: sourceDir,
    outDir,
    experimentalDecorators: legacyDecorators,
  }
  const program = ts.createProgram(group.map(fileOf), options)
  for (const snippet of group) {
    const source = program.getSourceFile(fileOf(snippet))
    const found = [...ts.getPreEmitDiagnostics(program, source)].filter(
      (diagnostic) => diagnostic.file === undefined || diagnostic.file === source,
    )
    // Global problems (a missing dist/, a bad option) are reported on every snippet of the group.
    const global = [...program.getGlobalDiagnostics(), ...program.getOptionsDiagnostics()]
    diagnostics.set(
      snippet.id,
      [...global, ...found].map((diagnostic) => describeDiagnostic(snippet, diagnostic)),
    )
    program.emit(source)
  }
}

/** Runs a compiled snippet with node and compares its output with the page's ```text block. */
async function runSnippet(snippet: Snippet, extraEnv: NodeJS.ProcessEnv): Promise<void> {
  expect(diagnostics.get(snippet.id)).toEqual([])
  const { stdout } = await run(process.execPath, [join(outDir, `${snippet.id}.js`)], {
    cwd: root,
    timeout: 20_000,
    env: { ...snippetEnv(), ...extraEnv },
  })
  if (snippet.expectedOutput !== undefined) expect(stdout.trimEnd()).toBe(snippet.expectedOutput.trimEnd())
}

/** The runner's environment without cache settings, so a snippet sees what a fresh shell would. */
function snippetEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test' }
  for (const name of Object.keys(env))
    if (name === 'CACHE_URL' || name.startsWith('TIERCACHE_')) delete env[name]
  return env
}

beforeAll(() => {
  if (!existsSync(join(root, 'packages/core/dist/index.d.ts')))
    throw new Error('the packages are not built: run `pnpm exec tsc -b` (pnpm test does) before this test')
  rmSync(work, { recursive: true, force: true })
  mkdirSync(sourceDir, { recursive: true })
  // ES modules whatever the folder above says (top-level await in snippets).
  writeFileSync(join(work, 'package.json'), '{ "type": "module", "private": true }\n')
  for (const snippet of compiled) writeFileSync(fileOf(snippet), moduleText(snippet))
  compile(
    compiled.filter((snippet) => !snippet.legacyDecorators),
    false,
  )
  compile(
    compiled.filter((snippet) => snippet.legacyDecorators),
    true,
  )
}, 120_000)

afterAll(() => {
  rmSync(work, { recursive: true, force: true })
})

describe('documentation snippets', () => {
  it('finds snippets in the documentation', () => {
    expect(snippets.length).toBeGreaterThan(20)
  })

  it('skips only with a reason, and rarely', () => {
    const skipped = snippets.filter((snippet) => snippet.skip !== undefined)
    for (const snippet of skipped) expect(snippet.skip, `${snippet.page}:${snippet.line}`).not.toBe('')
    expect(skipped.length).toBeLessThanOrEqual(Math.max(2, Math.floor(snippets.length / 20)))
  })

  for (const snippet of snippets) {
    const name = `${snippet.page}:${snippet.line}`
    if (snippet.skip !== undefined) {
      it.skip(`${name} (not compiled: ${snippet.skip})`, () => {})
      continue
    }
    it(`${name} type-checks${snippet.legacyDecorators ? ' (experimentalDecorators)' : ''}`, () => {
      expect(diagnostics.get(snippet.id)).toEqual([])
    })
    if (snippet.run) {
      it(`${name} runs${snippet.expectedOutput === undefined ? '' : ' and prints what the page says'}`, async () => {
        await runSnippet(snippet, {})
      })
    }
  }
})

// The getting-started promise — the same decorated service on memory://, Redis and a Redis Cluster by
// changing CACHE_URL — checked on real servers (one standalone, one 3-master cluster without replicas).
const onBackends = snippets.filter((snippet) => snippet.backends && snippet.skip === undefined)
const bin = redisBinary()

describe.skipIf(onBackends.length === 0 || !bin.available)(
  `documentation snippets on real servers (${bin.reason ?? bin.binary})`,
  () => {
    let standalone: StandaloneTopology | undefined
    let cluster: ClusterTopology | undefined
    beforeAll(async () => {
      standalone = await startStandalone()
      cluster = await startCluster({ masters: 3, replicasPerMaster: 0 })
    }, 90_000)
    afterAll(async () => {
      await standalone?.stop()
      await cluster?.stop()
    })

    for (const snippet of onBackends) {
      it(`${snippet.page}:${snippet.line} prints the same on a standalone Redis`, async () => {
        await runSnippet(snippet, { CACHE_URL: standalone!.url })
      })
      it(`${snippet.page}:${snippet.line} prints the same on a Redis Cluster`, async () => {
        await runSnippet(snippet, { CACHE_URL: cluster!.url })
      })
    }
  },
)
