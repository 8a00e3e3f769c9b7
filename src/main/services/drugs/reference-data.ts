// Reference tables the importers need, read from the open data folder: the ATC names of every level
// (<dataDir>/knowledge/atc/WHO_ATC-DDD_*.csv, and knowledge/mappings/atc_coding.csv.gz for retired codes),
// and the files the drug resolver maps with (the WHO index and gsn_atc_ndc_mapping.csv.gz), named for
// the import fingerprint. Drug names are mapped by the resolver (services/drugs), not here.
// Cached per data folder for the life of the process.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ImportError } from '../imports/errors'
import { loadAtcNames } from './atc-names'

export { atcDisplayName } from './atc-names'
export { normaliseNdc, splitGsn, UNMAPPED, type DrugMapping, type DrugRow } from './drug-mapper'

export interface ReferenceData {
  /** ATC code (every level) → display name. */
  atcNames: Map<string, string>
  /** The files read, for the import fingerprint (a changed table re-maps on the next import). */
  files: string[]
}

export interface ReferenceFiles {
  gsnToAtc: string
  whoAtc: string
  atcCodingFallback: string | null
}

/** Locates the reference files; a missing one is an ImportError naming it and MEDREC_DATA_DIR. */
export function referenceFiles(dataDir: string): ReferenceFiles {
  const mappings = join(dataDir, 'knowledge', 'mappings')
  const atcDir = join(dataDir, 'knowledge', 'atc')
  const need = (path: string): string => {
    if (!existsSync(path)) {
      throw new ImportError(
        `Reference table ${path} not found. The importer maps drugs to ATC with the open data folder's ` +
          `knowledge/ tables: set MEDREC_DATA_DIR (or --data-dir) to that folder.`,
        path
      )
    }
    return path
  }
  const whoCandidates = existsSync(atcDir) ? readdirSync(atcDir).filter((f) => /^WHO_ATC.*\.csv(\.gz)?$/i.test(f)).sort() : []
  const whoLatest = whoCandidates.at(-1)
  const fallback = join(mappings, 'atc_coding.csv.gz')
  return {
    gsnToAtc: need(join(mappings, 'gsn_atc_ndc_mapping.csv.gz')),
    whoAtc: need(whoLatest ? join(atcDir, whoLatest) : join(atcDir, 'WHO_ATC-DDD_<date>.csv')),
    atcCodingFallback: existsSync(fallback) ? fallback : null
  }
}

const cache = new Map<string, { stamp: string; data: Promise<ReferenceData> }>()

/** Loads (once per data folder and file versions) the drug mapping tables and ATC names. */
export function loadReferenceData(dataDir: string): Promise<ReferenceData> {
  const files = referenceFiles(dataDir)
  const paths = Object.values(files).filter((p): p is string => p !== null)
  const stamp = paths.map((p) => `${p}:${statSync(p).size}:${statSync(p).mtimeMs}`).join('|')
  const hit = cache.get(dataDir)
  if (hit && hit.stamp === stamp) return hit.data
  const data = readReferenceData(files, paths)
  cache.set(dataDir, { stamp, data })
  data.catch(() => cache.delete(dataDir))
  return data
}

async function readReferenceData(files: ReferenceFiles, paths: string[]): Promise<ReferenceData> {
  return { atcNames: await loadAtcNames(files.whoAtc, files.atcCodingFallback), files: paths }
}
