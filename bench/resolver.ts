// npm run bench:resolver [-- --labels <csv>] [--blind <split>]
// Scores the drug resolver against the labelled set (tests/fixtures/drug-labels/labelled-drugs.csv): precision
// of resolved rows, recall, non-drug precision/recall, combination recall, per split and source, rows by
// resolution path and the wrong rows. (The old importer mapper it was first compared with, a name table →
// GSN → NDC → WHO-name chain, was folded into the resolver; its last figures are in the fixture README.)
// Figures are printed, never asserted. --blind <split> prints that
// split's figures but not its rows, so a held-out split can be scored while the resolver is being changed
// without its errors being seen.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createDrugResolver } from '../src/main/services/drugs/load'
import { readLabelledSet, score, SPLITS, type LabelledRow, type Prediction, type Scores } from '../src/main/services/drugs/resolver-evaluation'
import { dataDir, defaultKnowledgeBasePath, projectRoot } from '../src/main/services/paths'

const { values } = parseArgs({ options: { labels: { type: 'string' }, blind: { type: 'string', multiple: true, default: [] } } })
const labelsPath = values.labels ?? join(projectRoot(), 'tests', 'fixtures', 'drug-labels', 'labelled-drugs.csv')
const rows = readLabelledSet(labelsPath)
const kb = defaultKnowledgeBasePath()

const started = performance.now()
const resolver = createDrugResolver({ dataDir: dataDir(), kbPath: existsSync(kb) ? kb : null })
const loadMs = performance.now() - started
const resolveStarted = performance.now()
const newPredictions: Prediction[] = rows.map((row) => {
  const r = resolver.resolve({ text: row.raw, route: row.route || null, rxnorm: row.rxnorm || null })
  if (r.status === 'resolved') return { kind: 'resolved', codes: r.ingredients.map((i) => i.atc5), path: r.paths.join('+') }
  if (r.status === 'non-drug') return { kind: 'non-drug', path: 'non-drug' }
  return { kind: 'none', path: r.status }
})
const resolveMs = performance.now() - resolveStarted

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`
function line(label: string, s: Scores): string {
  return (
    `${label.padEnd(26)} precision ${pct(s.precision)} (${s.resolvedCorrect}/${s.resolved})  recall ${pct(s.recall)} (${s.resolvedCorrect}/${s.drugRows})  ` +
    `non-drug precision ${pct(s.nonDrugPrecision)} (${s.nonDrugCorrect}/${s.nonDrugPredicted}) recall ${pct(s.nonDrugRecall)} (${s.nonDrugCorrect}/${s.nonDrugLabelled})  ` +
    `combination recall ${pct(s.combinationRecall)} (${s.combinationCorrect}/${s.combinationRows})`
  )
}
const certain = (r: LabelledRow): boolean => !r.uncertain
const blind = new Set(values.blind)
const shown = (r: LabelledRow): boolean => !blind.has(r.split)
const hiddenNote = blind.size > 0 ? ` (rows of ${[...blind].join(', ')} not listed)` : ''
const pick = <T,>(list: T[], keep: (r: LabelledRow) => boolean): T[] => list.filter((_, i) => keep(rows[i]!))

const newAll = score(rows, newPredictions)
const certainRows = rows.filter(certain)
console.log(`Labelled set: ${labelsPath}`)
console.log(
  `${rows.length} rows (${certainRows.length} with certain labels): ${newAll.drugRows} drugs with ATC5 labels, ${newAll.nonDrugLabelled} non-drug, ` +
    `${rows.filter((r) => r.expected === 'no-atc').length} drugs without an ATC5 code; by source: ${JSON.stringify(count(rows.map((r) => r.source)))}`
)
console.log(`Resolver: tables loaded in ${loadMs.toFixed(0)} ms, ${rows.length} rows resolved in ${resolveMs.toFixed(0)} ms\n`)
console.log(line('new resolver, all rows', newAll))
console.log(line('new resolver, certain', score(certainRows, pick(newPredictions, certain))))
for (const split of SPLITS.filter((s) => rows.some((r) => r.split === s))) {
  const keep = (r: LabelledRow): boolean => r.split === split
  console.log(line(`new resolver, ${split} split`, score(rows.filter(keep), pick(newPredictions, keep))))
}
for (const source of [...new Set(rows.map((r) => r.source))]) {
  const keep = (r: LabelledRow): boolean => r.source === source
  console.log(line(`new resolver, ${source}`, score(rows.filter(keep), pick(newPredictions, keep))))
}
console.log(`\nRows by resolution path (new resolver): ${JSON.stringify(sortedCounts(newAll.byPath))}`)
const containers = rows.filter((r) => r.expected === 'non-drug')
const flagged = containers.filter((r) => newPredictions[rows.indexOf(r)]!.kind === 'non-drug').length
console.log(`Containers/diluents/carriers flagged non-drug: ${flagged}/${containers.length}`)
for (const row of containers.filter((r) => shown(r) && newPredictions[rows.indexOf(r)]!.kind !== 'non-drug')) {
  console.log(`  not flagged: ${row.split !== 'dev' ? `${row.split} ` : ''}${row.source}:${row.line} "${row.raw}" → ${newPredictions[rows.indexOf(row)]!.path}${row.uncertain ? ' (uncertain label)' : ''}`)
}

console.log(`\nWrong rows, new resolver (${newAll.wrong.length})${hiddenNote}:`)
for (const { row, prediction } of newAll.wrong.filter((w) => shown(w.row))) console.log(`  ${describe(row, prediction)}`)
const unresolved = rows.filter((r, i) => Array.isArray(r.expected) && newPredictions[i]!.kind === 'none')
console.log(`\nLabelled drugs not resolved by the new resolver (${unresolved.length})${hiddenNote}:`)
for (const row of unresolved.filter(shown)) console.log(`  ${row.split !== 'dev' ? `${row.split} ` : ''}${row.source}:${row.line} "${row.raw}" → ${newPredictions[rows.indexOf(row)]!.path} (expected ${format(row.expected)})`)

function describe(row: LabelledRow, p: Prediction): string {
  const got = p.kind === 'resolved' ? p.codes.join('+') : p.kind
  return `${row.split !== 'dev' ? `${row.split} ` : ''}${row.source}:${row.line} "${row.raw}"${row.route ? ` [${row.route}]` : ''} → ${got} via ${p.path}; expected ${format(row.expected)}${row.uncertain ? ' (uncertain label)' : ''}`
}
function format(e: LabelledRow['expected']): string {
  return Array.isArray(e) ? e.map((slot) => slot.join('|')).join(' + ') : e
}
function count(list: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const x of list) out[x] = (out[x] ?? 0) + 1
  return out
}
function sortedCounts(c: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(c).sort((a, b) => b[1] - a[1]))
}
