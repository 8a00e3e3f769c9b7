// Loading the resolver's tables: the WHO ATC index (substances, codes, DDD routes) and the GSN code
// table from the open data folder, the curated names (resources/drug-synonyms.csv), and the FDA UNII
// synonyms compiled into the knowledge base by `npm run knowledge` (optional: without them the
// resolver still knows WHO names and the curated table). Nothing is downloaded; all is read once per
// process and folder.
import Database from 'better-sqlite3'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { parseCsv, readCsvObjects } from '../imports/csv'
import { resourcesDir } from '../paths'
import type { CodeInfo } from './route'
import { readRxnormTable } from './rxnorm-table'
import { DrugResolver, type CuratedKind, type CuratedName, type NameTarget, type ResolverData } from './resolver'
import { lookupKey, SALT_WORDS } from './text'

export const CURATED_KINDS: readonly CuratedKind[] = ['us-name', 'abbreviation', 'brand', 'synonym', 'non-drug', 'ambiguous']

/** The WHO index file in <dataDir>/knowledge/atc (the latest by name). */
export function whoAtcFile(dataDir: string): string {
  const dir = join(dataDir, 'knowledge', 'atc')
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => /^WHO_ATC.*\.csv$/i.test(f)).sort() : []
  if (files.length === 0) throw new Error(`No WHO ATC index (WHO_ATC-DDD_*.csv) in ${dir}: set MEDREC_DATA_DIR to the open data folder.`)
  return join(dir, files.at(-1)!)
}

/** A WHO level-5 name is a single substance unless it names a combination or a group. */
export function isSingleSubstanceName(name: string): boolean {
  return !/,|\band\b|combination|various|other|\bincl\.|excl\./i.test(name)
}

/** WHO substances: key → codes (plus the name without a bracketed qualifier as an alias where unique). */
export function readWhoSubstances(whoFile: string): Pick<ResolverData, 'substances' | 'substanceNames' | 'substanceOfCode' | 'codeInfo'> {
  const { rows } = readCsvObjects(whoFile, ['atc_code', 'atc_name', 'adm_r'])
  const substances = new Map<string, string[]>()
  const substanceNames = new Map<string, string>()
  const substanceOfCode = new Map<string, string>()
  const codeInfo = new Map<string, CodeInfo>()
  for (const { values } of rows) {
    const code = values.atc_code!.trim()
    if (!/^[A-Z]\d\d[A-Z]{2}\d\d$/.test(code)) continue
    const name = values.atc_name!.trim()
    const route = values.adm_r!.trim()
    const info = (codeInfo.get(code) as { dddRoutes: Set<string> } | undefined) ?? { dddRoutes: new Set<string>() }
    if (route !== '' && route !== 'NA') info.dddRoutes.add(route)
    codeInfo.set(code, info)
    if (!isSingleSubstanceName(name)) continue
    const key = lookupKey(name)
    const codes = substances.get(key) ?? []
    if (!codes.includes(code)) codes.push(code)
    substances.set(key, codes)
    if (!substanceNames.has(key)) substanceNames.set(key, name.toLowerCase())
    substanceOfCode.set(code, key)
  }
  // "insulin (human)", "retinol (vit a)", "methylnaltrexone bromide": the name without its bracket or salt
  // word also answers. Where that shorter name is itself a WHO name (ascorbic acid G01AD03 beside
  // "ascorbic acid (vit C)" A11GA01; glycopyrronium beside glycopyrronium bromide), it is the same
  // substance: it gets the codes of both, so the route decides among all of them.
  const aliases = new Map<string, string[]>()
  for (const [key] of substances) {
    const name = substanceNames.get(key)!
    const bare = lookupKey(name.replace(/\s*\([^)]*\)\s*/g, ' '))
    // Only trailing salt words go ("methylnaltrexone bromide"), and never down to a lone salt or short word.
    const words = bare.split(' ')
    while (words.length > 1 && SALT_WORDS.has(words.at(-1)!)) words.pop()
    const unsalted = words.length === 1 && SALT_WORDS.has(words[0]!) ? '' : words.join(' ')
    for (const alias of new Set([bare, unsalted.length >= 5 && unsalted !== bare ? unsalted : ''])) {
      if (alias === '' || alias === key) continue
      const list = aliases.get(alias) ?? []
      list.push(key)
      aliases.set(alias, list)
    }
  }
  for (const [alias, keys] of aliases) {
    if (substances.has(alias)) {
      const merged = new Set([...substances.get(alias)!, ...keys.flatMap((k) => substances.get(k) ?? [])])
      const codes = [...merged].sort()
      substances.set(alias, codes)
      for (const k of keys) substances.set(k, [...new Set([...(substances.get(k) ?? []), ...codes])].sort())
      continue
    }
    if (keys.length !== 1) continue
    substances.set(alias, substances.get(keys[0]!)!)
    substanceNames.set(alias, substanceNames.get(keys[0]!)!)
  }
  return { substances, substanceNames, substanceOfCode, codeInfo }
}

/**
 * The curated table: term,kind,target,note. `target` lists ingredients joined by " + ", each a WHO
 * substance name or a fixed ATC5 code; for non-drug rows it is empty and `note` says why.
 */
export function readCuratedNames(path: string, substances: ReadonlyMap<string, string[]>, codeInfo: ReadonlyMap<string, CodeInfo>): Map<string, CuratedName> {
  const { rows } = readCsvObjects(path, ['term', 'kind', 'target', 'note'])
  const curated = new Map<string, CuratedName>()
  for (const { line, values } of rows) {
    const kind = values.kind!.trim() as CuratedKind
    if (!CURATED_KINDS.includes(kind)) throw new Error(`${path}:${line}: kind "${values.kind}" is not one of ${CURATED_KINDS.join(', ')}.`)
    const key = lookupKey(values.term!)
    if (key === '') throw new Error(`${path}:${line}: empty term.`)
    const targets: NameTarget[] = []
    if (kind !== 'non-drug') {
      for (const part of values.target!.split('+').map((p) => p.trim()).filter(Boolean)) {
        if (/^[A-Z]\d\d[A-Z]{2}\d\d$/.test(part)) {
          if (!codeInfo.has(part)) throw new Error(`${path}:${line}: ATC code ${part} is not in the WHO index.`)
          targets.push({ substance: null, atc5: part })
          continue
        }
        const substance = lookupKey(part)
        if (!substances.has(substance)) throw new Error(`${path}:${line}: "${part}" is not a WHO ATC substance name.`)
        targets.push({ substance, atc5: null })
      }
      if (targets.length === 0) throw new Error(`${path}:${line}: no target for "${values.term}".`)
    }
    if (curated.has(key)) throw new Error(`${path}:${line}: "${values.term}" is listed twice.`)
    curated.set(key, { kind, targets, note: values.note!.trim() })
  }
  return curated
}

/** GSN → ATC from gsn_atc_ndc_mapping.csv.gz (the first row of a GSN wins). */
export function readGsnTable(dataDir: string): Map<string, string> {
  const path = join(dataDir, 'knowledge', 'mappings', 'gsn_atc_ndc_mapping.csv.gz')
  const out = new Map<string, string>()
  if (!existsSync(path)) return out
  const [header, ...records] = parseCsv(gunzipSync(readFileSync(path)).toString('utf8'), path)
  const columns = header?.fields.map((f) => f.trim()) ?? []
  const gsnAt = columns.indexOf('gsn')
  const atcAt = columns.indexOf('atc')
  if (gsnAt < 0 || atcAt < 0) throw new Error(`${path}: expected columns gsn and atc.`)
  for (const record of records) {
    const gsn = record.fields[gsnAt]?.trim() ?? ''
    const atc = record.fields[atcAt]?.trim() ?? ''
    if (/^\d{1,6}$/.test(gsn) && /^[A-Z]\d\d[A-Z]/.test(atc) && !out.has(gsn.padStart(6, '0'))) out.set(gsn.padStart(6, '0'), atc)
  }
  return out
}

/** Compiled synonyms from the knowledge base's drug_synonyms table; empty when the table is absent. */
export function readCompiledSynonyms(kbPath: string | null): Map<string, { substances: string[]; brand: boolean }> {
  const out = new Map<string, { substances: string[]; brand: boolean }>()
  if (!kbPath || !existsSync(kbPath)) return out
  const db = new Database(kbPath, { readonly: true, fileMustExist: true })
  try {
    const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'drug_synonyms'`).pluck().get()
    if (!exists) return out
    for (const row of db.prepare('SELECT name_key, substance_key, brand FROM drug_synonyms').iterate() as IterableIterator<{
      name_key: string
      substance_key: string
      brand: number
    }>) {
      const entry = out.get(row.name_key) ?? { substances: [], brand: row.brand === 1 }
      if (!entry.substances.includes(row.substance_key)) entry.substances.push(row.substance_key)
      out.set(row.name_key, entry)
    }
  } finally {
    db.close()
  }
  return out
}

export function curatedNamesPath(): string {
  return join(resourcesDir(), 'drug-synonyms.csv')
}

const synonymCache = new Map<string, ReadonlyMap<string, string>>()

/**
 * The curated table's one-to-one names (US names and synonyms with a single target) → the target as
 * written: a WHO substance name ("paracetamol") or an ATC5 code ("C10AD02"). The knowledge build (DDInter's
 * US names) and the drug picker read names through this, so every part of the app shares one name table
 * with the resolver. Keys are lower case with single spaces.
 */
export function curatedNameSynonyms(path: string = curatedNamesPath()): ReadonlyMap<string, string> {
  let table = synonymCache.get(path)
  if (!table) {
    const out = new Map<string, string>()
    for (const { values } of readCsvObjects(path, ['term', 'kind', 'target', 'note']).rows) {
      const kind = values.kind!.trim()
      const target = values.target!.trim()
      if ((kind !== 'us-name' && kind !== 'synonym') || target === '' || target.includes('+')) continue
      out.set(values.term!.trim().toLowerCase().replace(/\s+/g, ' '), target)
    }
    synonymCache.set(path, (table = out))
  }
  return table
}

export function rxnormTablePath(): string {
  return join(resourcesDir(), 'rxnorm-codes.csv')
}

export interface ResolverSources {
  dataDir: string
  /** Knowledge base holding the compiled synonyms (null: curated names only). */
  kbPath: string | null
  curatedPath?: string
  /** The RxNorm code table (null: none, names only; as when the table itself is generated). */
  rxnormPath?: string | null
}

export function loadResolverData(sources: ResolverSources): ResolverData {
  const whoFile = whoAtcFile(sources.dataDir)
  const who = readWhoSubstances(whoFile)
  const curatedPath = sources.curatedPath ?? curatedNamesPath()
  const curated = readCuratedNames(curatedPath, who.substances, who.codeInfo)
  const synonyms = readCompiledSynonyms(sources.kbPath)
  const rxnormPath = sources.rxnormPath === undefined ? rxnormTablePath() : sources.rxnormPath
  const rxnorm = rxnormPath ? readRxnormTable(rxnormPath, who.codeInfo) : new Map()
  // A compiled synonym pointing at a substance the WHO index no longer lists is dropped.
  for (const [key, entry] of synonyms) {
    entry.substances = entry.substances.filter((s) => who.substances.has(s))
    if (entry.substances.length === 0 || who.substances.has(key)) synonyms.delete(key)
  }
  return {
    ...who,
    curated,
    synonyms,
    gsnToAtc: readGsnTable(sources.dataDir),
    rxnorm,
    sources: [
      whoFile,
      curatedPath,
      ...(synonyms.size > 0 && sources.kbPath ? [`${sources.kbPath} (drug_synonyms)`] : []),
      ...(rxnorm.size > 0 && rxnormPath ? [rxnormPath] : [])
    ]
  }
}

const cache = new Map<string, ResolverData>()

/** A resolver over the tables of `dataDir` (+ the knowledge base's synonyms); tables are read once per process. */
export function createDrugResolver(sources: ResolverSources): DrugResolver {
  const key = `${sources.dataDir}|${sources.kbPath ?? ''}|${sources.curatedPath ?? ''}|${sources.rxnormPath === undefined ? 'default' : (sources.rxnormPath ?? 'none')}`
  let data = cache.get(key)
  if (!data) {
    data = loadResolverData(sources)
    cache.set(key, data)
  }
  return new DrugResolver(data)
}
