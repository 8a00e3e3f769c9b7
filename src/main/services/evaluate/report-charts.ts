// Static SVG charts for the evaluation report, laid out with d3-scale and d3-shape (pure functions, no DOM,
// no script in the page): the report opens offline, prints as drawn and has nothing to fail at view time.
// The app's renderer draws no charts with a library, so the report picks the smallest well-kept one.
import { scaleBand, scaleLinear } from 'd3-scale'
import { line } from 'd3-shape'
import type { Interval } from './bootstrap'
import type { ReliabilityPoint } from './metrics'

export const escapeHtml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')

const n = (value: number): string => (Math.round(value * 10) / 10).toString()

let chartCount = 0
/** Ids unique within one report (title and description of each figure for screen readers). */
const nextId = (): string => `chart-${++chartCount}`

export interface IntervalRow {
  label: string
  interval: Interval
  kind: 'model' | 'baseline'
}

/** Dot-and-whisker chart of one metric with 95% intervals, one row per model or baseline. */
export function intervalChart(title: string, description: string, rows: readonly IntervalRow[], domain: [number, number] = [0, 1]): string {
  const id = nextId()
  const width = 720
  const labelWidth = 290
  const rowHeight = 26
  const top = 10
  const height = top + rows.length * rowHeight + 34
  const x = scaleLinear().domain(domain).range([labelWidth, width - 20]).nice()
  const y = scaleBand<number>()
    .domain(rows.map((_, i) => i))
    .range([top, top + rows.length * rowHeight])
    .padding(0.3)
  const ticks = x.ticks(5)
  const axisY = top + rows.length * rowHeight + 6
  const parts: string[] = []
  for (const t of ticks) {
    parts.push(`<line x1="${n(x(t))}" x2="${n(x(t))}" y1="${top}" y2="${axisY}" class="grid"/>`)
    parts.push(`<text x="${n(x(t))}" y="${axisY + 16}" text-anchor="middle" class="tick">${x.tickFormat(5)(t)}</text>`)
  }
  rows.forEach((row, i) => {
    const cy = (y(i) ?? 0) + y.bandwidth() / 2
    const cls = row.kind === 'model' ? 'model' : 'baseline'
    parts.push(`<text x="${labelWidth - 10}" y="${n(cy + 4)}" text-anchor="end" class="label">${escapeHtml(row.label)}</text>`)
    if (row.interval.low !== null && row.interval.high !== null) {
      parts.push(`<line x1="${n(x(row.interval.low))}" x2="${n(x(row.interval.high))}" y1="${n(cy)}" y2="${n(cy)}" class="whisker ${cls}"/>`)
    }
    const shape =
      row.kind === 'model'
        ? `<circle cx="${n(x(row.interval.value))}" cy="${n(cy)}" r="5" class="dot ${cls}"/>`
        : `<rect x="${n(x(row.interval.value) - 4.5)}" y="${n(cy - 4.5)}" width="9" height="9" class="dot ${cls}"/>`
    parts.push(shape)
  })
  return `<figure><svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-labelledby="${id}-t ${id}-d"><title id="${id}-t">${escapeHtml(title)}</title><desc id="${id}-d">${escapeHtml(description)}</desc>${parts.join('')}</svg><figcaption>${escapeHtml(title)}: point estimate and 95% interval (circles: models, squares: baselines).</figcaption></figure>`
}

/** Reliability diagram: observed rate against mean predicted probability per bin, with the diagonal. */
export function reliabilityChart(title: string, points: readonly ReliabilityPoint[]): string {
  const id = nextId()
  const size = 320
  const margin = 44
  const x = scaleLinear().domain([0, 1]).range([margin, size - 12])
  const y = scaleLinear().domain([0, 1]).range([size - margin, 12])
  const total = points.reduce((s, p) => s + p.count, 0) || 1
  const path = line<ReliabilityPoint>()
    .x((p) => x(p.meanProbability))
    .y((p) => y(p.observedRate))(points as ReliabilityPoint[])
  const parts: string[] = []
  for (const t of x.ticks(5)) {
    parts.push(`<line x1="${n(x(t))}" x2="${n(x(t))}" y1="${n(y(0))}" y2="${n(y(1))}" class="grid"/>`)
    parts.push(`<text x="${n(x(t))}" y="${n(y(0) + 16)}" text-anchor="middle" class="tick">${t}</text>`)
    parts.push(`<line x1="${n(x(0))}" x2="${n(x(1))}" y1="${n(y(t))}" y2="${n(y(t))}" class="grid"/>`)
    parts.push(`<text x="${n(x(0) - 6)}" y="${n(y(t) + 4)}" text-anchor="end" class="tick">${t}</text>`)
  }
  parts.push(`<line x1="${n(x(0))}" y1="${n(y(0))}" x2="${n(x(1))}" y2="${n(y(1))}" class="diagonal"/>`)
  if (path) parts.push(`<path d="${path}" class="curve"/>`)
  for (const p of points) {
    const r = 2.5 + 7 * Math.sqrt(p.count / total)
    parts.push(`<circle cx="${n(x(p.meanProbability))}" cy="${n(y(p.observedRate))}" r="${n(r)}" class="dot model"/>`)
  }
  parts.push(`<text x="${size / 2}" y="${size - 6}" text-anchor="middle" class="axis">mean predicted probability</text>`)
  parts.push(`<text transform="translate(12 ${size / 2}) rotate(-90)" text-anchor="middle" class="axis">observed rate</text>`)
  const description = `Reliability diagram with ${points.length} bins: ${points.map((p) => `${p.low.toFixed(1)}–${p.high.toFixed(1)}: predicted ${p.meanProbability.toFixed(3)}, observed ${p.observedRate.toFixed(3)}, ${p.count} probabilities`).join('; ')}.`
  return `<figure class="reliability"><svg viewBox="0 0 ${size} ${size}" width="${size}" role="img" aria-labelledby="${id}-t ${id}-d"><title id="${id}-t">${escapeHtml(title)}</title><desc id="${id}-d">${escapeHtml(description)}</desc>${parts.join('')}</svg><figcaption>${escapeHtml(title)}: dots sized by the number of probabilities in the bin; the diagonal is perfect calibration.</figcaption></figure>`
}
