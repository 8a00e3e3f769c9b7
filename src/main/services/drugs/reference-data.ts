// Reference tables the importers need, read from the open data folder:
//   <dataDir>/knowledge/mappings/ndc_to_atc3.csv, gsn_atc_ndc_mapping.csv.gz, mimic_drug_to_atc.csv.gz,
//   atc_coding.csv.gz (names of retired ATC codes), and <dataDir>/knowledge/atc/WHO_ATC-DDD_*.csv.
// They are small (~20k rows in all) and cached per data folder for the life of the process.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { readCsv } from '../imports/csv'
import { ImportError } from '../imports/errors'
import { loadAtcNames, loadOralDddCodes } from './atc-names'
import { buildNameDictionaries, DrugMapper, isClassLevelAtc, normaliseNdc, splitGsn, type DrugMappingTables } from './drug-mapper'

export { atcDisplayName } from './atc-names'
export { DrugMapper, normaliseNdc, splitGsn, UNMAPPED, type DrugMapping, type DrugMappingTables, type DrugRow } from './drug-mapper'
export { drugNameCandidates, drugNameKey, drugNameTokens } from './drug-names'

export interface ReferenceData {
  tables: DrugMappingTables
  /** ATC code (every level) → display name. */
  atcNames: Map<string, string>
  /** The files read, for the import fingerprint (a changed table re-maps on the next import). */
  files: string[]
}

export interface ReferenceFiles {
  ndcToAtc3: string
  gsnToAtc: string
  drugNames: string
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
    ndcToAtc3: need(join(mappings, 'ndc_to_atc3.csv')),
    gsnToAtc: need(join(mappings, 'gsn_atc_ndc_mapping.csv.gz')),
    drugNames: need(join(mappings, 'mimic_drug_to_atc.csv.gz')),
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
  const rows = async (path: string, columns: string[]): Promise<string[][]> => {
    const out: string[][] = []
    for await (const batch of readCsv({ path, displayName: path }, { required: columns })) {
      for (let i = 0; i < batch.count; i++) out.push(batch.fields.slice(i * batch.width, (i + 1) * batch.width).map((f) => f.trim()))
    }
    return out
  }
  const ndcToAtc3 = new Map<string, string>()
  for (const [ndc, atc3] of await rows(files.ndcToAtc3, ['ndc', 'atc3'])) {
    const key = normaliseNdc(ndc!)
    if (key && atc3!.length === 4 && isClassLevelAtc(atc3!)) ndcToAtc3.set(key, atc3!)
  }
  const gsnToAtc = new Map<string, string>()
  for (const [gsn, atc] of await rows(files.gsnToAtc, ['gsn', 'atc'])) {
    const [key] = splitGsn(gsn!)
    if (key && isClassLevelAtc(atc!) && !gsnToAtc.has(key)) gsnToAtc.set(key, atc!)
  }
  const nameRows = (await rows(files.drugNames, ['drug', 'atc_code'])) as Array<[string, string]>
  const atcNames = await loadAtcNames(files.whoAtc, files.atcCodingFallback)
  const whoLevel5 = [...atcNames].filter(([code]) => code.length === 7).map(([code, name]) => [code, name] as [string, string])
  const oralDdd = await loadOralDddCodes(files.whoAtc)
  const tables: DrugMappingTables = { ndcToAtc3, gsnToAtc, ...buildNameDictionaries(nameRows, whoLevel5, oralDdd) }
  return { tables, atcNames, files: paths }
}

/** A mapper over the reference tables of `dataDir`. */
export async function createDrugMapper(dataDir: string): Promise<DrugMapper> {
  return new DrugMapper((await loadReferenceData(dataDir)).tables)
}
