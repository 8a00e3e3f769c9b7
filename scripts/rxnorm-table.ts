// npm run rxnorm-table [-- --input <FHIR folder or file>] [--out <csv>]
// Writes resources/rxnorm-codes.csv: every RxNorm code of the medication resources in the Synthea R4
// sample (../shared/data/ehr/synthea-r4-sample), with the ingredients' ATC5 codes the resolver gives the
// code's RxNorm display name (names only: no code table, no local overrides). Codes whose name does not
// resolve to ingredients (ambiguous, unresolved, non-drug) are left out and listed, so the resolver reads
// their text instead. Nothing is downloaded: the codes and names are those the open sample holds.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createDrugResolver, rxnormTablePath } from '../src/main/services/drugs/load'
import { collectRxnormCodings } from '../src/main/services/drugs/rxnorm-table'
import { dataDir, defaultKnowledgeBasePath } from '../src/main/services/paths'

const { values } = parseArgs({ options: { input: { type: 'string' }, out: { type: 'string' } } })
const input = values.input ?? join(dataDir(), 'ehr', 'synthea-r4-sample', 'bundles')
const out = values.out ?? rxnormTablePath()
const resolver = createDrugResolver({ dataDir: dataDir(), kbPath: defaultKnowledgeBasePath(), rxnormPath: null })
const codings = await collectRxnormCodings(input)
const csv = (v: string): string => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)
const lines = ['rxnorm,display,atc5,resolved_by']
const left: string[] = []
for (const { code, display } of codings) {
  const r = resolver.resolve({ text: display })
  if (r.status !== 'resolved') {
    left.push(`  ${code} "${display}": ${r.status} (${r.reason})`)
    continue
  }
  lines.push([code, csv(display), r.ingredients.map((i) => i.atc5).join(' + '), r.paths.join('+')].join(','))
}
writeFileSync(out, `${lines.join('\n')}\n`)
console.log(`${codings.length} RxNorm codes in ${input}; ${lines.length - 1} written to ${out}; ${left.length} left to the text:`)
for (const l of left) console.log(l)
