// npm run bench:resolver [-- --labels <csv>] [--all-wrong]
// Scores the drug resolver against the labelled set (tests/fixtures/drug-labels/labelled-drugs.csv) and,
// on the same rows, the old importer mapper (services/drugs/drug-mapper.ts DrugMapper: name table → GSN → NDC → WHO
// names). Prints precision of resolved rows, recall, non-drug precision/recall, combination recall, rows
// by resolution path and the wrong rows. Figures are printed, never asserted.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createDrugResolver } from '../src/main/services/drugs/load'
import { readLabelledSet, score, type LabelledRow, type Prediction, type Scores } from '../src/main/services/drugs/resolver-evaluation'
import { dataDir, projectRoot, defaultKnowledgeBasePath } from '../src/main/services/paths'
import { createDrugMapper } from '../src/main/services/drugs/reference-data'

const { values } = parseArgs({ options: { labels: { type: 'string' }, 'all-wrong': { type: 'boolean', default: false } } })
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

const mapper = await createDrugMapper(dataDir())
const oldPredictions: Prediction[] = rows.map((row) => {
  const m = mapper.map({ name: row.raw })
  if (m.method === 'unmapped') return { kind: 'none', path: 'unmapped' }
  // The old mapper sometimes gives only an ATC3 class: not an ingredient, so not a resolved row.
  if (!m.atc5) return { kind: 'none', path: `${m.method} (class ${m.atc3} only)` }
  return { kind: 'resolved', codes: [m.atc5], path: m.method }
})

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`
function line(label: string, s: Scores): string {
  return (
    `${label.padEnd(26)} precision ${pct(s.precision)} (${s.resolvedCorrect}/${s.resolved})  recall ${pct(s.recall)} (${s.resolvedCorrect}/${s.drugRows})  ` +
    `non-drug precision ${pct(s.nonDrugPrecision)} (${s.nonDrugCorrect}/${s.nonDrugPredicted}) recall ${pct(s.nonDrugRecall)} (${s.nonDrugCorrect}/${s.nonDrugLabelled})  ` +
    `combination recall ${pct(s.combinationRecall)} (${s.combinationCorrect}/${s.combinationRows})`
  )
}
const certain = (r: LabelledRow): boolean => !r.uncertain
const pick = <T,>(list: T[], keep: (r: LabelledRow) => boolean): T[] => list.filter((_, i) => keep(rows[i]!))

const newAll = score(rows, newPredictions)
const oldAll = score(rows, oldPredictions)
const certainRows = rows.filter(certain)
console.log(`Labelled set: ${labelsPath}`)
console.log(
  `${rows.length} rows (${certainRows.length} with certain labels): ${newAll.drugRows} drugs with ATC5 labels, ${newAll.nonDrugLabelled} non-drug, ` +
    `${rows.filter((r) => r.expected === 'no-atc').length} drugs without an ATC5 code; by source: ${JSON.stringify(count(rows.map((r) => r.source)))}`
)
console.log(`Resolver: tables loaded in ${loadMs.toFixed(0)} ms, ${rows.length} rows resolved in ${resolveMs.toFixed(0)} ms\n`)
console.log(line('old mapper, all rows', oldAll))
console.log(line('new resolver, all rows', newAll))
console.log(line('old mapper, certain', score(certainRows, pick(oldPredictions, certain))))
console.log(line('new resolver, certain', score(certainRows, pick(newPredictions, certain))))
for (const split of ['dev', 'holdout', 'holdout2'] as const) {
  const keep = (r: LabelledRow): boolean => r.split === split
  console.log(line(`new resolver, ${split} split`, score(rows.filter(keep), pick(newPredictions, keep))))
  console.log(line(`old mapper, ${split} split`, score(rows.filter(keep), pick(oldPredictions, keep))))
}
for (const source of [...new Set(rows.map((r) => r.source))]) {
  const keep = (r: LabelledRow): boolean => r.source === source
  console.log(line(`new resolver, ${source}`, score(rows.filter(keep), pick(newPredictions, keep))))
}
console.log(`\nRows by resolution path (new resolver): ${JSON.stringify(sortedCounts(newAll.byPath))}`)
console.log(`Rows by method (old mapper): ${JSON.stringify(sortedCounts(oldAll.byPath))}`)
const containers = rows.filter((r) => r.expected === 'non-drug')
const flagged = containers.filter((r) => newPredictions[rows.indexOf(r)]!.kind === 'non-drug').length
console.log(`Containers/diluents/carriers flagged non-drug: ${flagged}/${containers.length}`)
for (const row of containers.filter((r) => newPredictions[rows.indexOf(r)]!.kind !== 'non-drug')) {
  console.log(`  not flagged: ${row.source}:${row.line} "${row.raw}" → ${newPredictions[rows.indexOf(row)]!.path}${row.uncertain ? ' (uncertain label)' : ''}`)
}

console.log(`\nWrong rows, new resolver (${newAll.wrong.length}):`)
for (const { row, prediction } of newAll.wrong) console.log(`  ${describe(row, prediction)}`)
const unresolved = rows.filter((r, i) => Array.isArray(r.expected) && newPredictions[i]!.kind === 'none')
console.log(`\nLabelled drugs not resolved by the new resolver (${unresolved.length}):`)
for (const row of unresolved) console.log(`  ${row.source}:${row.line} "${row.raw}" → ${newPredictions[rows.indexOf(row)]!.path} (expected ${format(row.expected)})`)
console.log(`\nWrong rows, old mapper (${oldAll.wrong.length}${values['all-wrong'] ? '' : ', first 40'}):`)
for (const { row, prediction } of values['all-wrong'] ? oldAll.wrong : oldAll.wrong.slice(0, 40)) console.log(`  ${describe(row, prediction)}`)

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
