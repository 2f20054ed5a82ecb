/** One panel of a failover chart: a per-second series of throughput and p99 latency, with event markers. */
export interface FailoverPanel {
  readonly title: string
  /** Seconds since the load started. */
  readonly seconds: readonly number[]
  readonly opsPerSecond: readonly number[]
  readonly p99Ms: readonly number[]
  readonly errors: readonly number[]
  /** Reads answered as a miss because the remote tier failed them (fail-open), per second. */
  readonly misses: readonly number[]
  /** Vertical markers, e.g. the kill and the moment the new master was seen. */
  readonly markers: ReadonlyArray<{ readonly at: number; readonly label: string }>
}

const WIDTH = 900
const PANEL_HEIGHT = 260
const MARGIN = { left: 70, right: 70, top: 36, bottom: 36 }

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** A "nice" upper bound for an axis: 1, 2 or 5 × 10^n at or above `max`. */
function niceMax(max: number): number {
  if (!(max > 0)) return 1
  const power = 10 ** Math.floor(Math.log10(max))
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power
  return 10 * power
}

function panel(data: FailoverPanel, top: number): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom
  const x0 = MARGIN.left
  const y0 = top + MARGIN.top
  const tMax = Math.max(1, ...data.seconds.map((s) => s + 1))
  const opsMax = niceMax(Math.max(...data.opsPerSecond))
  const latMax = niceMax(Math.max(...data.p99Ms.filter(Number.isFinite)))
  const x = (t: number) => x0 + (t / tMax) * plotW
  const yOps = (v: number) => y0 + plotH - (v / opsMax) * plotH
  const yLat = (v: number) => y0 + plotH - (Math.min(v, latMax) / latMax) * plotH
  const parts: string[] = []
  parts.push(
    `<text x="${x0}" y="${top + 22}" font-size="15" font-weight="bold">${escapeXml(data.title)}</text>`,
  )
  parts.push(`<rect x="${x0}" y="${y0}" width="${plotW}" height="${plotH}" fill="#fafafa" stroke="#bbb"/>`)
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (plotH * i) / 4
    parts.push(`<line x1="${x0}" y1="${y}" x2="${x0 + plotW}" y2="${y}" stroke="#e4e4e4"/>`)
    parts.push(
      `<text x="${x0 - 6}" y="${y + 4}" font-size="11" text-anchor="end" fill="#1f5fbf">${formatTick(opsMax * (1 - i / 4))}</text>`,
    )
    parts.push(
      `<text x="${x0 + plotW + 6}" y="${y + 4}" font-size="11" fill="#c0392b">${formatTick(latMax * (1 - i / 4))} ms</text>`,
    )
  }
  for (let t = 0; t <= tMax; t += tMax > 20 ? 5 : 2) {
    parts.push(`<text x="${x(t)}" y="${y0 + plotH + 16}" font-size="11" text-anchor="middle">${t}s</text>`)
  }
  for (const marker of data.markers) {
    parts.push(
      `<line x1="${x(marker.at)}" y1="${y0}" x2="${x(marker.at)}" y2="${y0 + plotH}" stroke="#555" stroke-dasharray="4 3"/>`,
    )
    parts.push(
      `<text x="${x(marker.at) + 4}" y="${y0 + 12}" font-size="11" fill="#333">${escapeXml(marker.label)}</text>`,
    )
  }
  // Each second is plotted at its middle.
  const mid = (i: number) => x(data.seconds[i]! + 0.5)
  const opsPath = data.opsPerSecond.map((v, i) => `${i === 0 ? 'M' : 'L'}${mid(i)},${yOps(v)}`).join(' ')
  const latPath = data.p99Ms.map((v, i) => `${i === 0 ? 'M' : 'L'}${mid(i)},${yLat(v)}`).join(' ')
  const missPath = data.misses.map((v, i) => `${i === 0 ? 'M' : 'L'}${mid(i)},${yOps(v)}`).join(' ')
  parts.push(`<path d="${missPath}" fill="none" stroke="#999" stroke-width="1.5"/>`)
  parts.push(`<path d="${opsPath}" fill="none" stroke="#1f5fbf" stroke-width="2.5"/>`)
  parts.push(`<path d="${latPath}" fill="none" stroke="#c0392b" stroke-width="2" stroke-dasharray="6 3"/>`)
  data.errors.forEach((count, i) => {
    if (count > 0)
      parts.push(
        `<circle cx="${mid(i)}" cy="${y0 + plotH - 6}" r="5" fill="#000"><title>${count} errors</title></circle>`,
      )
  })
  parts.push(
    `<text x="${x0 + plotW}" y="${top + 22}" font-size="11" text-anchor="end">` +
      `<tspan fill="#1f5fbf">━ ops/s (left)</tspan>  <tspan fill="#999">━ fail-open misses/s (left)</tspan>  ` +
      `<tspan fill="#c0392b">╌ p99 latency (right)</tspan>  <tspan fill="#000">● errors</tspan></text>`,
  )
  return parts.join('\n')
}

function formatTick(value: number): string {
  const trim = (text: string) => text.replace(/\.0+$/, '')
  if (value >= 1000) return `${trim((value / 1000).toFixed(1))}k`
  return trim(value >= 10 ? value.toFixed(0) : value.toFixed(1))
}

/** An SVG with one panel per failover run, stacked; plain shapes and text so any SVG renderer draws it. */
export function failoverSvg(panels: readonly FailoverPanel[]): string {
  const height = PANEL_HEIGHT * panels.length
  const body = panels.map((p, i) => panel(p, i * PANEL_HEIGHT)).join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, sans-serif">
<title>Throughput, fail-open misses, p99 latency and errors per second through a master kill</title>
<rect width="100%" height="100%" fill="#fff"/>
${body}
</svg>
`
}
