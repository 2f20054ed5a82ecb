/** A performance bar from shared/DESIGN.md: `actual` compared with `target` by `op`. */
export interface Bar {
  readonly name: string
  readonly actual: number
  readonly target: number
  readonly op: '>=' | '<='
  /** How the numbers are shown: a ratio (0.41×) or a count (1.00). */
  readonly unit: 'ratio' | 'count'
}

/** The outcome of one scenario: a Markdown table, the bars it checks, raw numbers for the JSON report. */
export interface Section {
  readonly id: string
  readonly title: string
  readonly markdown: string
  readonly bars: readonly Bar[]
  readonly data: Readonly<Record<string, unknown>>
}

export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`]
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`)
  return lines.join('\n')
}

export function barHolds(bar: Bar): boolean {
  return bar.op === '>=' ? bar.actual >= bar.target : bar.actual <= bar.target
}
