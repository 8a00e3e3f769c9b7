// npm run knowledge [-- --out <file>] [--data <dir>] [--no-curated]
// Compiles ../shared/data/knowledge (or $MEDREC_DATA_DIR/knowledge) into resources/knowledge.sqlite.
import { parseArgs } from 'node:util'
import { buildKnowledgeBase } from '../src/main/services/drugs/knowledge-build'
import { dataDir, defaultKnowledgeBasePath } from '../src/main/services/paths'
import { compileDrugSynonyms } from './drug-synonyms'

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    data: { type: 'string' },
    'no-curated': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false }
  }
})

if (values.help) {
  console.log(`Usage: npm run knowledge [-- --out <file>] [--data <dir>] [--no-curated] [--json]

Builds the drug knowledge base (WHO ATC, DDInter, TWOSIDES, SMILES, curated table) into SQLite.
  --out <file>     output file (default: $MEDREC_KB or resources/knowledge.sqlite)
  --data <dir>     open data folder holding knowledge/ (default: $MEDREC_DATA_DIR or ../shared/data)
  --no-curated     leave out resources/curated-ddi.csv
  --json           print the build report as JSON`)
  process.exit(0)
}

try {
  const kbPath = values.out ?? defaultKnowledgeBasePath()
  const report = buildKnowledgeBase(kbPath, values.data ?? dataDir(), {
    curatedTablePath: values['no-curated'] ? null : undefined,
    log: values.json ? undefined : (line) => console.log(line)
  })
  if (values.json) console.log(JSON.stringify(report, null, 2))
  else {
    const d = report.ddinter
    console.log(
      `DDInter: ${d.pairs} pairs ${JSON.stringify(d.bySeverity)}; drugs matched to ATC-5: ${d.matchedDrugs}/${d.drugs} ${JSON.stringify(d.byMatchMethod)}; pairs with both drugs outside the open groups: ${d.pairsOutsideClaimedGroups}; drugs filed under an open group: ${d.filedDrugs}; matched to an open group but not filed there: ${d.matchedOpenButNotFiled}`
    )
    if (report.warnings.length > 0) console.log(`${report.warnings.length} warning(s), first: ${report.warnings.slice(0, 5).join(' | ')}`)
  }
  // The drug resolver's synonym table (FDA UNII names and brands), from the Python package's data file.
  const synonyms = compileDrugSynonyms(kbPath, values.data ?? dataDir())
  // With --json, stdout is the report alone.
  if (values.json) console.error(synonyms)
  else console.log(synonyms)
} catch (error) {
  console.error(`knowledge build failed: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
