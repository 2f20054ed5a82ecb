import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type ErrorCode, ErrorCodes, TierCacheError } from '@tiercache/core'
import { describe, expect, it } from 'vitest'

// The error-code table of docs/operations.md is generated from core's `ErrorCodes`: the `code`, `fatal`
// and `cause` columns come from the code, the `where you see it` and `what to do` columns are prose kept
// in the page. `UPDATE_DOCS=1 pnpm exec vitest run test/docs/error-codes.test.ts` rewrites the table —
// causes refreshed, removed codes dropped, new codes added with TODO cells — and this test fails until
// every TODO is written.
const page = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'operations.md')
const START = '<!-- error-codes:start (generated from ErrorCodes; see test/docs/error-codes.test.ts) -->'
const END = '<!-- error-codes:end -->'
const HEADER = [
  '| code | fatal | where you see it | cause (`ErrorCodes`) | what to do |',
  '| --- | --- | --- | --- | --- |',
]

interface Row {
  readonly code: string
  readonly fatal: string
  readonly where: string
  readonly cause: string
  readonly fix: string
}

function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim())
}

function readTable(text: string): { before: string; rows: Row[]; after: string } {
  const start = text.indexOf(START)
  const end = text.indexOf(END)
  if (start < 0 || end < start) throw new Error(`docs/operations.md has no ${START} … ${END} section`)
  const body = text
    .slice(start + START.length, end)
    .trim()
    .split('\n')
    .slice(HEADER.length)
  const rows = body
    .filter((line) => line.trim().startsWith('|'))
    .map((line) => {
      const [code = '', fatal = '', where = '', cause = '', fix = ''] = cells(line)
      return { code: code.replace(/`/g, ''), fatal, where, cause, fix }
    })
  return { before: text.slice(0, start), rows, after: text.slice(end + END.length) }
}

function render(rows: readonly Row[]): string {
  const lines = rows.map(
    (row) => `| \`${row.code}\` | ${row.fatal} | ${row.where} | ${row.cause} | ${row.fix} |`,
  )
  return [START, '', ...HEADER, ...lines, '', END].join('\n')
}

function expectedRows(existing: readonly Row[]): Row[] {
  const byCode = new Map(existing.map((row) => [row.code, row]))
  return (Object.keys(ErrorCodes) as ErrorCode[]).map((code) => ({
    code,
    fatal: new TierCacheError(code, '').fatal ? 'yes' : 'no',
    where: byCode.get(code)?.where || 'TODO',
    cause: ErrorCodes[code].replace(/\|/g, '\\|'),
    fix: byCode.get(code)?.fix || 'TODO',
  }))
}

describe('error codes in docs/operations.md', () => {
  const text = readFileSync(page, 'utf8')
  const { before, rows, after } = readTable(text)
  const expected = expectedRows(rows)

  if (process.env.UPDATE_DOCS === '1') {
    const updated = before + render(expected) + after
    if (updated !== text) writeFileSync(page, updated)
  }

  it('lists every ErrorCodes code once, in ErrorCodes order, and nothing else', () => {
    expect(rows.map((row) => row.code)).toEqual(Object.keys(ErrorCodes))
  })

  it('shows the cause and fatality that the code defines', () => {
    for (const row of expected) {
      const shown = rows.find((candidate) => candidate.code === row.code)
      expect(shown?.cause, row.code).toBe(row.cause)
      expect(shown?.fatal, row.code).toBe(row.fatal)
    }
  })

  it('says for every code where it surfaces and what to do', () => {
    for (const row of rows) {
      expect(row.where, `${row.code}: where you see it`).not.toMatch(/^(TODO)?$/)
      expect(row.fix, `${row.code}: what to do`).not.toMatch(/^(TODO)?$/)
    }
  })
})
