import { parseSeverity, severityRank, type Severity } from '../../../shared/domain/interaction'
import Database from 'better-sqlite3'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { defaultCuratedTablePath } from '../paths'
import { readCsvFile, readCsvObjects } from '../imports/csv'
import { importInteractionTable } from '../interactions/interaction-table'
import { liftSourceToClasses, measureCoverage } from '../interactions/class-lift'
import { matchDrugNames, nameKey, WhoNameIndex, type MatchMethod } from './who-names'
import { KB_SCHEMA_SQL, KB_SCHEMA_VERSION } from './knowledge-schema'
import {
  CURATED_SOURCE_DEFAULTS,
  DDINTER_SOURCE,
  SMILES_SOURCE,
  TWOSIDES_ATC3_SOURCE,
  TWOSIDES_TOP40_SOURCE,
  WHO_ATC_SOURCE,
  type SourceDefinition
} from './knowledge-sources'

export interface BuildOptions {
  /** The curated table to include; default resources/curated-ddi.csv of the project; null to leave it out. */
  curatedTablePath?: string | null
  /** Progress lines (default: silent). */
  log?: (line: string) => void
}

export interface BuildReport {
  outPath: string
  durationMs: number
  atcCodes: Record<string, number>
  smilesAtc3: number
  smilesStrings: number
  ddinter: {
    rows: number
    pairs: number
    bySeverity: Record<string, number>
    drugs: number
    matchedDrugs: number
    byMatchMethod: Record<string, number>
    /** Drugs shown to be filed under an open group (every interaction of theirs is in this copy). */
    filedDrugs: number
    /** Drugs matched to an open-group ATC code but not filed there by DDInter (their coverage is not claimed). */
    matchedOpenButNotFiled: number
    /**
     * Pairs present although both drugs' matched ATC codes lie outside the open groups: DDInter files such
     * drugs under an open group by codes WHO lists only in combinations (e.g. clarithromycin in A02BD).
     */
    pairsOutsideClaimedGroups: number
  }
  twosidesAtc3Pairs: number
  twosidesTop40: { rows: number; pairs: number; skippedUnmappedRows: number }
  curatedPairs: number
  carriedOverHospitalSources: string[]
  classPairsBySource: Record<string, number>
  warnings: string[]
}



const ATC_LEVEL_BY_LENGTH: Record<number, number> = { 1: 1, 3: 2, 4: 3, 5: 4, 7: 5 }
const PARENT_LENGTH: Record<number, number> = { 2: 1, 3: 3, 4: 4, 5: 5 }

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

function requireFile(path: string): string {
  if (!existsSync(path)) throw new Error(`Knowledge input missing: ${path}`)
  return path
}

/**
 * Compiles `<dataDir>/knowledge` (WHO ATC, DDInter, TWOSIDES, SMILES) and the curated table into a
 * SQLite knowledge base at outPath. Writes a temporary file beside it and renames it at the end, so a
 * failed build leaves the previous file untouched. Hospital tables loaded into the previous file are
 * carried over into the new one.
 */
export function buildKnowledgeBase(outPath: string, dataDir: string, options: BuildOptions = {}): BuildReport {
  const started = performance.now()
  const log = options.log ?? (() => {})
  const target = resolve(outPath)
  const tempPath = `${target}.building-${process.pid}.sqlite` // *.sqlite: git-ignored like the result
  rmSync(tempPath, { force: true })
  const knowledgeDir = join(resolve(dataDir), 'knowledge')
  if (!existsSync(knowledgeDir)) throw new Error(`No knowledge folder at ${knowledgeDir} (set MEDREC_DATA_DIR or pass the data folder).`)

  const db = new Database(tempPath)
  try {
    db.pragma('journal_mode = OFF') // a temporary file: a crash simply discards it
    db.pragma('synchronous = OFF')
    db.pragma('foreign_keys = ON')
    db.exec(KB_SCHEMA_SQL)
    const report = db.transaction(() => buildInto(db, knowledgeDir, target, options, log))()
    report.outPath = target
    report.durationMs = Math.round(performance.now() - started)
    db.prepare('INSERT INTO kb_meta (key, value) VALUES (?, ?)').run('build_report', JSON.stringify(report))
    db.pragma(`user_version = ${KB_SCHEMA_VERSION}`)
    db.pragma('journal_mode = DELETE')
    db.exec('ANALYZE')
    db.close()
    renameSync(tempPath, target)
    log(`Knowledge base written to ${target} in ${report.durationMs} ms`)
    return report
  } catch (error) {
    if (db.open) db.close()
    rmSync(tempPath, { force: true })
    throw error
  }
}

function buildInto(
  db: Database.Database,
  knowledgeDir: string,
  target: string,
  options: BuildOptions,
  log: (line: string) => void
): BuildReport {
  const warnings: string[] = []
  const meta = db.prepare('INSERT INTO kb_meta (key, value) VALUES (?, ?)')
  meta.run('schema_version', String(KB_SCHEMA_VERSION))
  meta.run('built_at', new Date().toISOString())
  meta.run('knowledge_dir', knowledgeDir)

  const insertSource = (definition: SourceDefinition, files: string[]): number =>
    Number(
      db
        .prepare(
          `INSERT INTO sources (key, kind, name, version, license, attribution, url, severity_graded, coverage, coverage_note, files, loaded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
        )
        .run(
          definition.key,
          definition.kind,
          definition.name,
          definition.version,
          definition.license,
          definition.attribution,
          definition.url,
          definition.severityGraded ? 1 : 0,
          JSON.stringify(definition.coverage),
          definition.coverageNote,
          JSON.stringify(files.map((path) => ({ path: path.slice(knowledgeDir.length + 1), sha256: sha256(path) }))),
          new Date().toISOString()
        ).lastInsertRowid
    )

  // --- WHO ATC index -------------------------------------------------------------------------
  const atcDir = join(knowledgeDir, 'atc')
  const atcFile = readdirSync(atcDir).find((f) => /^WHO_ATC-DDD_.*\.csv$/.test(f))
  if (!atcFile) throw new Error(`No WHO_ATC-DDD_<date>.csv in ${atcDir}`)
  const atcPath = join(atcDir, atcFile)
  const atcVersion = /WHO_ATC-DDD_(.*)\.csv$/.exec(atcFile)?.[1] ?? 'unknown'
  const whoSourceId = insertSource(WHO_ATC_SOURCE(atcVersion), [atcPath])
  const atcNames = new Map<string, string>()
  const atcLevelCounts: Record<string, number> = {}
  const insertAtc = db.prepare('INSERT INTO atc (code, name, level, parent, atc3, source_id) VALUES (?, ?, ?, ?, ?, ?)')
  for (const { line, values } of readCsvObjects(atcPath, ['atc_code', 'atc_name']).rows) {
    const code = (values.atc_code ?? '').trim().toUpperCase()
    const name = (values.atc_name ?? '').trim()
    const level = ATC_LEVEL_BY_LENGTH[code.length]
    if (!level || !/^[A-Z](\d\d([A-Z]([A-Z](\d\d)?)?)?)?$/.test(code)) throw new Error(`${atcPath}:${line}: "${code}" is not an ATC code.`)
    if (name === '' || name === 'NA') throw new Error(`${atcPath}:${line}: ATC code ${code} has no name.`)
    if (atcNames.has(code)) continue // one row per route of administration (DDD); the name is the same
    atcNames.set(code, name)
    const parentLength = PARENT_LENGTH[level]
    insertAtc.run(code, name, level, parentLength ? code.slice(0, parentLength) : null, level >= 3 ? code.slice(0, 4) : null, whoSourceId)
    atcLevelCounts[`level${level}`] = (atcLevelCounts[`level${level}`] ?? 0) + 1
  }
  log(`WHO ATC ${atcVersion}: ${atcNames.size} codes`)
  const level5 = [...atcNames].filter(([code]) => code.length === 7).map(([code, name]) => ({ code, name }))
  const whoIndex = new WhoNameIndex(level5)

  // --- SMILES per ATC3 -----------------------------------------------------------------------
  const smilesPath = requireFile(join(knowledgeDir, 'molecules', 'atc3_smiles.json'))
  const smilesSourceId = insertSource(SMILES_SOURCE, [smilesPath])
  const smiles = JSON.parse(readFileSync(smilesPath, 'utf8')) as unknown
  if (typeof smiles !== 'object' || smiles === null || Array.isArray(smiles)) throw new Error(`${smilesPath}: expected an object ATC3 → [SMILES].`)
  const insertSmiles = db.prepare('INSERT INTO atc3_smiles (atc3, ordinal, smiles, source_id) VALUES (?, ?, ?, ?)')
  let smilesStrings = 0
  let smilesAtc3 = 0
  for (const [atc3, list] of Object.entries(smiles)) {
    // The file carries two empty special-token entries of the GAMENet vocabulary ("decoder_point", "seperator").
    if (!/^[A-Z]\d\d[A-Z]$/.test(atc3) && Array.isArray(list) && list.length === 0) {
      warnings.push(`SMILES file entry "${atc3}" is not an ATC3 code and has no SMILES; skipped`)
      continue
    }
    if (!/^[A-Z]\d\d[A-Z]$/.test(atc3) || !Array.isArray(list) || list.some((s) => typeof s !== 'string')) {
      throw new Error(`${smilesPath}: entry "${atc3}" is not an ATC3 code with a list of SMILES strings.`)
    }
    if (!atcNames.has(atc3)) warnings.push(`SMILES for ${atc3}, which is not in the WHO ATC index ${atcVersion}`)
    list.forEach((s: string, ordinal) => insertSmiles.run(atc3, ordinal, s, smilesSourceId))
    smilesStrings += list.length
    smilesAtc3++
  }

  // --- DDInter -------------------------------------------------------------------------------
  const ddinterDir = join(knowledgeDir, 'ddinter')
  const ddinterFiles = readdirSync(ddinterDir)
    .filter((f) => /^ddinter_downloads_code_[A-Z]\.csv$/.test(f))
    .sort()
    .map((f) => join(ddinterDir, f))
  if (ddinterFiles.length === 0) throw new Error(`No ddinter_downloads_code_<group>.csv in ${ddinterDir}`)
  const presentGroups = ddinterFiles.map((f) => /code_([A-Z])\.csv$/.exec(f)?.[1] ?? '')
  const ddinterDefinition: SourceDefinition = {
    ...DDINTER_SOURCE,
    name: `DDInter (open copy, groups ${presentGroups.join(',')})`,
    version: `1.0 (downloads by ATC group ${presentGroups.join(', ')})`,
    coverage: { kind: 'groups', groups: presentGroups },
    coverageNote: `Only the downloads for ATC groups ${presentGroups.join(', ')} are in this copy: a drug's interactions are complete only when DDInter files the drug under one of these groups; a pair of two drugs filed elsewhere (e.g. digoxin–amiodarone, C×C) is absent.`
  }
  const ddinterSourceId = insertSource(ddinterDefinition, ddinterFiles)
  const ddinterNames = new Map<string, string>() // DDInter id → name
  const ddinterPairs = new Map<string, { a: string; b: string; severity: Severity; files: Set<string> }>()
  let ddinterRows = 0
  for (const file of ddinterFiles) {
    const group = /code_([A-Z])\.csv$/.exec(file)?.[1] ?? ''
    for (const { line, values } of readCsvObjects(file, ['DDInterID_A', 'Drug_A', 'DDInterID_B', 'Drug_B', 'Level']).rows) {
      ddinterRows++
      const ids = [values.DDInterID_A ?? '', values.DDInterID_B ?? '']
      const names = [values.Drug_A ?? '', values.Drug_B ?? '']
      for (let i = 0; i < 2; i++) {
        const id = (ids[i] ?? '').trim()
        const name = (names[i] ?? '').trim()
        if (!/^DDInter\d+$/.test(id) || name === '') throw new Error(`${file}:${line}: malformed drug "${id}" / "${name}".`)
        const known = ddinterNames.get(id)
        if (known !== undefined && known !== name) throw new Error(`${file}:${line}: ${id} is "${name}" here but "${known}" elsewhere.`)
        ddinterNames.set(id, name)
      }
      const severity = parseSeverity(values.Level ?? '')
      if (!severity) throw new Error(`${file}:${line}: unknown DDInter level "${values.Level}".`)
      const [a, b] = [ids[0]!.trim(), ids[1]!.trim()].sort()
      if (a === b) throw new Error(`${file}:${line}: a drug paired with itself (${a}).`)
      const key = `${a}|${b}`
      const earlier = ddinterPairs.get(key)
      if (earlier && earlier.severity !== severity) {
        warnings.push(`DDInter ${a}–${b}: level ${earlier.severity} and ${severity} in different files; kept the more severe`)
        if (severityRank(severity) > severityRank(earlier.severity)) earlier.severity = severity
      }
      if (earlier) earlier.files.add(group)
      else ddinterPairs.set(key, { a: a!, b: b!, severity, files: new Set([group]) })
    }
  }
  const filedGroups = inferFiledGroups(ddinterPairs.values())
  const matches = matchDrugNames(whoIndex, [...ddinterNames.values()])
  const insertDrug = db.prepare('INSERT INTO drugs (source_id, external_id, name, name_key, match_method) VALUES (?, ?, ?, ?, ?)')
  const insertFiledDrug = db.prepare(
    'INSERT INTO drugs (source_id, external_id, name, name_key, match_method, filed_groups) VALUES (?, ?, ?, ?, ?, ?)'
  )
  const insertDrugAtc = db.prepare('INSERT INTO drug_atc (drug_id, atc5) VALUES (?, ?)')
  const insertName = db.prepare('INSERT INTO drug_names (name_key, display, atc5, drug_id, via) VALUES (?, ?, ?, ?, ?)')
  const ddinterDrugIds = new Map<string, number>()
  const byMatchMethod: Record<string, number> = {}
  const claimedNameKeys = new Set<string>()
  const ddinterCodes = new Map<string, string[]>()
  for (const [externalId, name] of [...ddinterNames].sort(([x], [y]) => Number(x.slice(7)) - Number(y.slice(7)))) {
    const match = matches.get(name) ?? { codes: [], method: 'unmatched' as MatchMethod }
    const key = nameKey(name)
    const filed = filedGroups.get(externalId)
    const drugId = Number(
      insertFiledDrug.run(ddinterSourceId, externalId, name, key, match.method, filed && filed.size > 0 ? [...filed].sort().join(',') : null)
        .lastInsertRowid
    )
    ddinterDrugIds.set(externalId, drugId)
    ddinterCodes.set(externalId, match.codes)
    byMatchMethod[match.method] = (byMatchMethod[match.method] ?? 0) + 1
    for (const code of match.codes) insertDrugAtc.run(drugId, code)
    // The name resolves to the codes this drug was matched to (a route-limited subset of the WHO name's codes).
    if (match.codes.length === 0) insertName.run(key, name, null, drugId, 'source-name')
    for (const code of match.codes) insertName.run(key, name, code, drugId, 'source-name')
    claimedNameKeys.add(key)
  }
  const insertPair = db.prepare('INSERT INTO drug_pairs (source_id, drug_a, drug_b, severity) VALUES (?, ?, ?, ?)')
  const bySeverity: Record<string, number> = {}
  let pairsOutsideClaimedGroups = 0
  for (const { a, b, severity } of ddinterPairs.values()) {
    const [low, high] = [ddinterDrugIds.get(a)!, ddinterDrugIds.get(b)!].sort((x, y) => x - y) as [number, number]
    insertPair.run(ddinterSourceId, low, high, severity)
    bySeverity[severity] = (bySeverity[severity] ?? 0) + 1
    const codesA = ddinterCodes.get(a) ?? []
    const codesB = ddinterCodes.get(b) ?? []
    const outside = (codes: string[]): boolean => codes.length > 0 && codes.every((c) => !presentGroups.includes(c.charAt(0)))
    if (outside(codesA) && outside(codesB)) pairsOutsideClaimedGroups++
  }
  const matchedDrugs = [...ddinterCodes.values()].filter((codes) => codes.length > 0).length
  const filedDrugs = [...filedGroups.values()].filter((g) => g.size > 0).length
  // Drugs our ATC match places in an open group although DDInter does not file them there (mostly drugs
  // that had no ATC code in DDInter): their pairs with drugs outside the open groups are missing.
  const matchedOpenButNotFiled = [...ddinterNames.keys()].filter(
    (id) => (ddinterCodes.get(id) ?? []).some((c) => presentGroups.includes(c.charAt(0))) && (filedGroups.get(id)?.size ?? 0) === 0
  ).length
  log(`DDInter: ${ddinterRows} rows, ${ddinterPairs.size} pairs, ${ddinterNames.size} drugs (${matchedDrugs} matched to ATC-5)`)

  // WHO names and aliases a user may type, where no source drug already claims the name.
  for (const { key, codes, via } of whoIndex.entries()) {
    if (claimedNameKeys.has(key)) continue
    for (const code of codes) insertName.run(key, atcNames.get(code) ?? key, code, null, via)
  }

  // --- TWOSIDES: ATC3 pairs (class level) -------------------------------------------------------
  const twosidesAtc3Path = requireFile(join(knowledgeDir, 'ddi', 'twosides_atc3_pairs.csv'))
  const twosidesAtc3Id = insertSource(TWOSIDES_ATC3_SOURCE, [twosidesAtc3Path])
  const insertClassPair = db.prepare(
    `INSERT OR IGNORE INTO class_pairs (source_id, atc3_a, atc3_b, basis, severity, n_unknown) VALUES (?, ?, ?, 'class', 'Unknown', 0)`
  )
  let twosidesAtc3Pairs = 0
  for (const { line, values } of readCsvObjects(twosidesAtc3Path, ['atc3_a', 'atc3_b']).rows) {
    const [a, b] = [(values.atc3_a ?? '').trim(), (values.atc3_b ?? '').trim()].sort() as [string, string]
    if (!/^[A-Z]\d\d[A-Z]$/.test(a) || !/^[A-Z]\d\d[A-Z]$/.test(b)) throw new Error(`${twosidesAtc3Path}:${line}: "${a}", "${b}" are not ATC3 codes.`)
    if (!atcNames.has(a) || !atcNames.has(b)) warnings.push(`TWOSIDES ATC3 pair ${a}–${b} names a class not in WHO ATC ${atcVersion}`)
    twosidesAtc3Pairs += insertClassPair.run(twosidesAtc3Id, a, b).changes
  }

  // --- TWOSIDES: top-40 STITCH pairs, mapped to ATC with stitch_cid_to_atc.csv -------------------
  const stitchMapPath = requireFile(join(knowledgeDir, 'mappings', 'stitch_cid_to_atc.csv'))
  const top40Path = requireFile(join(knowledgeDir, 'ddi', 'twosides_top40_stitch_pairs.csv'))
  const cidCodes = new Map<string, string[]>()
  for (const { line, fields } of readCsvFile(stitchMapPath)) {
    const [cid, ...codes] = fields.map((f) => f.trim())
    if (!cid || !/^CID\d+$/.test(cid)) throw new Error(`${stitchMapPath}:${line}: "${cid}" is not a STITCH CID.`)
    const known = codes.filter((c) => atcNames.has(c) && c.length === 7)
    if (known.length < codes.length) warnings.push(`STITCH ${cid}: ATC code(s) ${codes.filter((c) => !known.includes(c)).join(', ')} not in WHO ATC ${atcVersion}`)
    cidCodes.set(cid, [...new Set([...(cidCodes.get(cid) ?? []), ...known])])
  }
  const top40Id = insertSource(TWOSIDES_TOP40_SOURCE, [top40Path, stitchMapPath])
  const top40DrugIds = new Map<string, number>()
  const top40Drug = (cid: string): number | null => {
    const codes = cidCodes.get(cid)
    if (!codes || codes.length === 0) return null
    const existing = top40DrugIds.get(cid)
    if (existing !== undefined) return existing
    const name = atcNames.get(codes[0]!) ?? cid
    const id = Number(insertDrug.run(top40Id, cid, name, nameKey(name), 'stitch-atc').lastInsertRowid)
    for (const code of codes) insertDrugAtc.run(id, code)
    top40DrugIds.set(cid, id)
    return id
  }
  const insertTop40Pair = db.prepare("INSERT OR IGNORE INTO drug_pairs (source_id, drug_a, drug_b, severity) VALUES (?, ?, ?, 'Unknown')")
  let top40Rows = 0
  let top40Pairs = 0
  let top40Skipped = 0
  for (const { line, values } of readCsvObjects(top40Path, ['STITCH 1', 'STITCH 2']).rows) {
    top40Rows++
    const cids = [(values['STITCH 1'] ?? '').trim(), (values['STITCH 2'] ?? '').trim()]
    if (cids.some((c) => !/^CID\d+$/.test(c))) throw new Error(`${top40Path}:${line}: "${cids.join('", "')}" are not STITCH CIDs.`)
    const ids = cids.map(top40Drug)
    if (ids[0] == null || ids[1] == null || ids[0] === ids[1]) {
      top40Skipped++
      continue
    }
    const [low, high] = [ids[0], ids[1]].sort((x, y) => x - y) as [number, number]
    top40Pairs += insertTop40Pair.run(top40Id, low, high).changes
  }
  log(`TWOSIDES: ${twosidesAtc3Pairs} ATC3 pairs; top-40: ${top40Pairs} drug pairs (${top40Skipped} rows without ATC mapping)`)

  // --- Curated table (same CSV format as a hospital table) ------------------------------------
  let curatedPairs = 0
  const curatedPath = options.curatedTablePath === undefined ? defaultCuratedTablePath() : options.curatedTablePath
  if (curatedPath !== null) {
    const curated = importInteractionTable(db, requireFile(curatedPath), {
      kind: 'curated',
      coverage: CURATED_SOURCE_DEFAULTS.coverage,
      coverageNote: CURATED_SOURCE_DEFAULTS.coverageNote
    })
    curatedPairs = curated.rows
    log(`Curated table ${basename(curatedPath)}: ${curatedPairs} pairs`)
  }

  // --- Hospital tables loaded into the previous file --------------------------------------------
  const carried = carryOverHospitalTables(db, target, warnings)
  for (const key of carried) log(`Carried over hospital table ${key}`)

  // --- Lift drug pairs to ATC3 classes and measure coverage ----------------------------------
  const classPairsBySource: Record<string, number> = {}
  const pairSources = db
    .prepare("SELECT id, key FROM sources WHERE kind IN ('reference', 'signal', 'curated', 'hospital')")
    .all() as { id: number; key: string }[]
  for (const { id, key } of pairSources) {
    if (key !== TWOSIDES_ATC3_SOURCE.key) {
      liftSourceToClasses(db, id)
      measureCoverage(db, id)
    }
    classPairsBySource[key] = (db.prepare('SELECT COUNT(*) FROM class_pairs WHERE source_id = ?').pluck().get(id) as number) ?? 0
  }
  log(`ATC3 class pairs: ${JSON.stringify(classPairsBySource)}`)

  return {
    outPath: target,
    durationMs: 0,
    atcCodes: atcLevelCounts,
    smilesAtc3,
    smilesStrings,
    ddinter: {
      rows: ddinterRows,
      pairs: ddinterPairs.size,
      bySeverity,
      drugs: ddinterNames.size,
      matchedDrugs,
      byMatchMethod,
      filedDrugs,
      matchedOpenButNotFiled,
      pairsOutsideClaimedGroups
    },
    twosidesAtc3Pairs,
    twosidesTop40: { rows: top40Rows, pairs: top40Pairs, skippedUnmappedRows: top40Skipped },
    curatedPairs,
    carriedOverHospitalSources: carried,
    classPairsBySource,
    warnings
  }
}

/**
 * Infers under which downloaded groups DDInter files each drug. A drug filed under group g has all its
 * pairs in g's download; the converse can fail only when every partner is itself filed under g, so a
 * group counts only when at least one partner is not filed there. Drugs filed under no open group get
 * an empty set: their pairs with drugs outside the open groups may be missing.
 */
function inferFiledGroups(pairs: Iterable<{ a: string; b: string; files: Set<string> }>): Map<string, Set<string>> {
  const list = [...pairs]
  const candidates = new Map<string, Set<string>>()
  for (const { a, b, files } of list) {
    for (const drug of [a, b]) {
      const current = candidates.get(drug)
      if (!current) candidates.set(drug, new Set(files))
      else for (const g of current) if (!files.has(g)) current.delete(g)
    }
  }
  const proven = new Map<string, Set<string>>()
  for (const drug of candidates.keys()) proven.set(drug, new Set())
  for (const { a, b, files } of list) {
    for (const [drug, partner] of [[a, b], [b, a]] as const) {
      for (const g of files) {
        if (candidates.get(drug)!.has(g) && !candidates.get(partner)!.has(g)) proven.get(drug)!.add(g)
      }
    }
  }
  return proven
}

/**
 * Copies the hospital tables of the knowledge base being replaced into the new one, so that a rebuild
 * does not silently drop a table a hospital loaded. Codes no longer in the WHO index are dropped with a warning.
 */
function carryOverHospitalTables(db: Database.Database, previousPath: string, warnings: string[]): string[] {
  if (!existsSync(previousPath)) return []
  let previous: Database.Database
  try {
    previous = new Database(previousPath, { readonly: true, fileMustExist: true })
  } catch (error) {
    warnings.push(`Could not open the previous knowledge base to carry over hospital tables: ${String(error)}`)
    return []
  }
  try {
    const version = previous.pragma('user_version', { simple: true }) as number
    const hospitalSources =
      version === KB_SCHEMA_VERSION
        ? (previous.prepare("SELECT * FROM sources WHERE kind = 'hospital' ORDER BY id").all() as Record<string, unknown>[])
        : []
    if (version !== KB_SCHEMA_VERSION) {
      const count = previous.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'sources'").pluck().get() as number
      if (count > 0) warnings.push(`The previous knowledge base has schema ${version}; load hospital tables again.`)
      return []
    }
    const carried: string[] = []
    const codeExists = db.prepare('SELECT 1 FROM atc WHERE code = ?').pluck()
    for (const source of hospitalSources) {
      const { id: oldId, ...fields } = source
      const columns = Object.keys(fields)
      const newId = Number(
        db
          .prepare(`INSERT INTO sources (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`)
          .run(...columns.map((c) => fields[c])).lastInsertRowid
      )
      const idMap = new Map<number, number>()
      const drugs = previous.prepare('SELECT id, external_id, name, name_key, match_method FROM drugs WHERE source_id = ?').all(oldId) as {
        id: number
        external_id: string
        name: string
        name_key: string
        match_method: string
      }[]
      for (const drug of drugs) {
        const id = Number(
          db
            .prepare('INSERT INTO drugs (source_id, external_id, name, name_key, match_method) VALUES (?, ?, ?, ?, ?)')
            .run(newId, drug.external_id, drug.name, drug.name_key, drug.match_method).lastInsertRowid
        )
        idMap.set(drug.id, id)
        for (const code of previous.prepare('SELECT atc5 FROM drug_atc WHERE drug_id = ?').pluck().all(drug.id) as string[]) {
          if (codeExists.get(code)) db.prepare('INSERT INTO drug_atc (drug_id, atc5) VALUES (?, ?)').run(id, code)
          else warnings.push(`Hospital table ${String(fields.key)}: ${drug.name} code ${code} is no longer in the WHO index`)
        }
      }
      const pairs = previous
        .prepare('SELECT drug_a, drug_b, severity, effect, citation, source_line FROM drug_pairs WHERE source_id = ?')
        .all(oldId) as { drug_a: number; drug_b: number; severity: string; effect: string | null; citation: string | null; source_line: number | null }[]
      const insert = db.prepare(
        'INSERT INTO drug_pairs (source_id, drug_a, drug_b, severity, effect, citation, source_line) VALUES (?, ?, ?, ?, ?, ?, ?)'
      )
      for (const p of pairs) {
        const [low, high] = [idMap.get(p.drug_a)!, idMap.get(p.drug_b)!].sort((x, y) => x - y) as [number, number]
        insert.run(newId, low, high, p.severity, p.effect, p.citation, p.source_line)
      }
      carried.push(String(fields.key))
    }
    return carried
  } finally {
    previous.close()
  }
}
