import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

/**
 * A ```ts block of a Markdown page, with what the conventions around it say (see docs/README.md,
 * "Writing docs"):
 * - `<!-- prelude … -->` right above the fence: hidden code placed before the block when it is compiled
 *   (declarations the reader does not need to see, such as `declare const db: …`).
 * - `<!-- snippet-skip: reason -->` right above the fence: the block is not compiled (rare; the reason
 *   is required and shown in the test name).
 * - ```` ```ts run ````: the block is also executed with node; the next ```` ```text ```` block before any
 *   other code block is its expected standard output.
 * - ```` ```ts run backends ````: also run with `CACHE_URL` pointing at a real standalone Redis and at a
 *   Redis Cluster started by the testkit, expecting the same output.
 * - ```` ```ts legacy-decorators ````: compiled with `experimentalDecorators` instead of standard decorators.
 */
export interface Snippet {
  /** Page path relative to the repository root. */
  readonly page: string
  /** 1-based line of the block's first code line in the page. */
  readonly line: number
  /** `page-name-<index>`: a file name for the generated module. */
  readonly id: string
  readonly code: string
  readonly prelude: string
  readonly run: boolean
  /** `ts run backends`: run it again with CACHE_URL on a real standalone Redis and a Redis Cluster. */
  readonly backends: boolean
  readonly legacyDecorators: boolean
  readonly skip: string | undefined
  readonly expectedOutput: string | undefined
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)\s*(.*)$/

interface Block {
  readonly lang: string
  readonly flags: readonly string[]
  readonly start: number
  readonly body: string[]
  /** The lines above the fence (comments are looked up there). */
  readonly above: readonly string[]
}

function blocksOf(lines: readonly string[]): Block[] {
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!)
    if (open === null) continue
    const marker = open[2]!
    const body: string[] = []
    let j = i + 1
    while (j < lines.length && !lines[j]!.trimStart().startsWith(marker)) body.push(lines[j++]!)
    blocks.push({
      lang: open[3]!.toLowerCase(),
      flags: open[4]!.split(/\s+/).filter(Boolean),
      start: i + 2,
      body,
      above: lines.slice(0, i),
    })
    i = j
  }
  return blocks
}

/** HTML comments that end right above a fence (blank lines allowed), nearest first. */
function commentsAbove(above: readonly string[]): string[] {
  const comments: string[] = []
  let i = above.length - 1
  while (i >= 0) {
    if (above[i]!.trim() === '') {
      i--
      continue
    }
    if (!above[i]!.trim().endsWith('-->')) break
    let j = i
    while (j >= 0 && !above[j]!.includes('<!--')) j--
    if (j < 0) break
    const text = above.slice(j, i + 1).join('\n')
    comments.push(text.slice(text.indexOf('<!--') + 4, text.lastIndexOf('-->')))
    i = j - 1
  }
  return comments
}

export function extractSnippets(root: string, file: string): Snippet[] {
  const page = relative(root, file)
  const lines = readFileSync(file, 'utf8').split('\n')
  const blocks = blocksOf(lines)
  const snippets: Snippet[] = []
  const stem = page.replace(/\.md$/, '').replace(/[^a-zA-Z0-9]+/g, '-')
  for (let b = 0; b < blocks.length; b++) {
    const block = blocks[b]!
    if (block.lang !== 'ts' && block.lang !== 'typescript') continue
    let prelude = ''
    let skip: string | undefined
    for (const comment of commentsAbove(block.above)) {
      const trimmed = comment.trim()
      if (trimmed.startsWith('prelude')) prelude = trimmed.slice('prelude'.length).replace(/^\s*\n/, '')
      else if (trimmed.startsWith('snippet-skip:')) skip = trimmed.slice('snippet-skip:'.length).trim()
    }
    const run = block.flags.includes('run')
    let expectedOutput: string | undefined
    if (run) {
      const next = blocks.slice(b + 1).find((other) => other.lang !== '')
      if (next !== undefined && next.lang === 'text') expectedOutput = next.body.join('\n')
    }
    snippets.push({
      page,
      line: block.start,
      id: `${stem}-${snippets.length + 1}`,
      code: block.body.join('\n'),
      prelude,
      run,
      backends: run && block.flags.includes('backends'),
      legacyDecorators: block.flags.includes('legacy-decorators'),
      skip,
      expectedOutput,
    })
  }
  return snippets
}

/** The pages whose snippets are checked: docs/*.md (not the generated docs/api/) and the root README. */
export function documentationPages(root: string): string[] {
  const docs = join(root, 'docs')
  const pages = readdirSync(docs)
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => join(docs, name))
  const readme = join(root, 'README.md')
  try {
    readFileSync(readme)
    pages.push(readme)
  } catch {
    // No root README yet: nothing to check there.
  }
  return pages
}
