// Synthetic MIMIC-IV-layout cohort for benchmarks, sampled from the open MIMIC-IV demo.
//
// Every distribution comes from the demo (`<dataDir>/ehr/mimic-iv-demo-2.2/hosp`), never from
// credentialed data:
// - a patient copies a random demo patient's demographics, first-admission offset within the anchor
//   year, admission count and whether the last stay ended in hospital death;
// - the admission count is scaled so the mean hits `visitsPerPatient` (default 10, so 100k patients
//   give ~1M visits): count = floor(k · f + u), u ~ U[0,1), f = visitsPerPatient / demo mean (2.75),
//   which keeps the demo's long-tailed shape (1 admission for half the patients, up to 20) in
//   expectation exactly;
// - an admission copies a random demo admission: length of stay, ED/death offsets, the categorical
//   columns, its ICD version and its (diagnoses, procedures, prescriptions) counts, jointly, so long
//   stays keep their long medication lists; the gap to the next admission is a random demo gap;
// - codes are drawn (frequency-weighted) from the demo's rows of the same ICD version, distinct per
//   admission for diagnoses (as in the demo), with replacement for procedures (the demo repeats
//   procedure codes within an admission);
// - an admission's prescriptions are its template admission's demo rows, re-timed to the new stay:
//   drug columns verbatim (drug, formulary code, GSN, NDC, strength, dose, route, quoting as in the
//   source), start offset from admission and duration kept. This keeps the demo's per-admission
//   structure: ~66 rows, each drug ordered ~2.1 times, drugs prescribed together;
// - prescription rows are written interleaved across admissions, as in the demo's file (17,015 runs
//   of the same admission in 18,087 rows), by shuffling them within windows of 256 patients; with
//   `groupPrescriptions` they are written admission by admission instead.
// Same seed + parameters + demo → byte-identical files (one seeded PRNG consumed in a fixed order,
// fixed gzip settings, patients written in order). Memory stays bounded: rows are streamed through
// gzip with at most a few MB buffered per file.
//
// CLI: npm run bench:cohort -- --patients 100000 --seed 1 [--out dir] [--visits-per-patient 10] [--grouped-prescriptions]

import { once } from 'node:events'
import { chmodSync, copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs'
import { join, resolve } from 'node:path'
import { finished } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import { gunzipSync, gzip } from 'node:zlib'
import { dataDir, projectRoot } from '../src/main/services/paths'

/** Bump when the output for a given seed changes, so cached cohorts are regenerated. */
export const GENERATOR_VERSION = 2

export const DEFAULT_VISITS_PER_PATIENT = 10

/** Files generated row by row; the ICD dictionaries are copied from the demo as they are. */
const GENERATED_TABLES = ['patients', 'admissions', 'diagnoses_icd', 'procedures_icd', 'prescriptions'] as const
const DICTIONARY_TABLES = ['d_icd_diagnoses', 'd_icd_procedures'] as const
export const COHORT_TABLES = [...GENERATED_TABLES, ...DICTIONARY_TABLES] as const
export type CohortTable = (typeof COHORT_TABLES)[number]

export function demoHospDir(): string {
  return join(dataDir(), 'ehr', 'mimic-iv-demo-2.2', 'hosp')
}

// ---------------------------------------------------------------------------------------------
// Deterministic PRNG: sfc32 seeded through splitmix32 (fast, 2^128 state, good statistical quality).

export class SeededRandom {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number) {
    let s = seed >>> 0
    const splitmix = (): number => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = splitmix()
    this.b = splitmix()
    this.c = splitmix()
    this.d = splitmix()
    for (let i = 0; i < 12; i++) this.next()
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) >>> 0
    return t / 4294967296
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n)
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Cannot pick from an empty list.')
    return items[this.below(items.length)] as T
  }
}

// ---------------------------------------------------------------------------------------------
// CSV reading that keeps each field's raw text, so copied columns keep the source's quoting
// (MIMIC distinguishes `""`, an empty string, from an empty field, a null).

interface CsvTable {
  header: string
  columns: string[]
  rows: string[][]
}

function parseCsvRaw(text: string, file: string): CsvTable {
  const records: string[][] = []
  let fields: string[] = []
  let fieldStart = 0
  let inQuotes = false
  const endField = (end: number) => fields.push(text.slice(fieldStart, end))
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    if (inQuotes) {
      if (ch === 34 /* " */) {
        if (text.charCodeAt(i + 1) === 34) i++
        else inQuotes = false
      }
    } else if (ch === 34) {
      inQuotes = true
    } else if (ch === 44 /* , */) {
      endField(i)
      fieldStart = i + 1
    } else if (ch === 10 /* \n */) {
      endField(text.charCodeAt(i - 1) === 13 ? i - 1 : i)
      records.push(fields)
      fields = []
      fieldStart = i + 1
    }
  }
  if (inQuotes) throw new Error(`${file}: unterminated quoted field at the end of the file.`)
  if (fieldStart < text.length) {
    endField(text.length)
    records.push(fields)
  }
  const headerFields = records.shift()
  if (!headerFields) throw new Error(`${file}: empty file, expected a CSV header.`)
  const header = text.slice(0, text.indexOf('\n')).replace(/\r$/, '')
  records.forEach((r, i) => {
    if (r.length !== headerFields.length)
      throw new Error(`${file}: record ${i + 2} has ${r.length} fields, the header has ${headerFields.length}.`)
  })
  return { header, columns: headerFields, rows: records }
}

function unquote(raw: string): string {
  return raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw
}

/** Column accessor by name that fails loudly when the demo's layout is not what we expect. */
function columnIndex(table: CsvTable, file: string, name: string): (row: string[]) => string {
  const index = table.columns.indexOf(name)
  if (index < 0) throw new Error(`${file}: missing column "${name}" (header: ${table.header}).`)
  return (row) => row[index] as string
}

// ---------------------------------------------------------------------------------------------
// Time handling in whole minutes since 1970 (MIMIC's shifted dates run 2100-2210; seconds are :00).

const MINUTES_PER_DAY = 1440

function parseMinutes(value: string, where: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2}))?$/.exec(value)
  if (!m) throw new Error(`${where}: "${value}" is not a YYYY-MM-DD[ HH:MM:SS] time.`)
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0))
  return Math.round(ms / 60_000)
}

const pad2 = (n: number) => (n < 10 ? '0' : '') + n
const TIME_OF_DAY = Array.from({ length: MINUTES_PER_DAY }, (_, m) => `${pad2(Math.floor(m / 60))}:${pad2(m % 60)}:00`)

/** Days since 1970-01-01 → YYYY-MM-DD (Hinnant's civil_from_days; pure arithmetic, no Date). */
function formatDay(days: number): string {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  return `${year}-${pad2(month)}-${pad2(day)}`
}

export function formatDate(minutes: number): string {
  return formatDay(Math.floor(minutes / MINUTES_PER_DAY))
}

export function formatDateTime(minutes: number): string {
  const days = Math.floor(minutes / MINUTES_PER_DAY)
  return `${formatDay(days)} ${TIME_OF_DAY[minutes - days * MINUTES_PER_DAY]}`
}

// ---------------------------------------------------------------------------------------------
// Empirical distributions read from the demo.

interface PatientTemplate {
  /** gender,anchor_age,anchor_year,anchor_year_group as raw CSV text. */
  demographics: string
  anchorYearStart: number
  firstAdmitOffset: number
  admissionCount: number
  diedInHospital: boolean
  /** Days from the last discharge to an out-of-hospital death, or null. */
  dodDaysAfterLastDischarge: number | null
}

interface AdmissionTemplate {
  lengthOfStay: number
  deathOffset: number | null
  edRegOffset: number | null
  edOutOffset: number | null
  /** admission_type … race as raw CSV text. */
  categorical: string
  hospitalExpireFlag: string
  diagnosisCount: number
  procedureCount: number
  /** The demo admission's own prescription rows, in file order. */
  prescriptions: PrescriptionTemplate[]
  icdVersion: string
}

interface PrescriptionTemplate {
  hasPoe: boolean
  orderProviderId: string
  /** Minutes from the admission's admittime to starttime (null: no starttime). */
  startOffset: number | null
  durationMinutes: number | null
  /** drug_type … route as raw CSV text. */
  drugColumns: string
}

export interface DemoDistributions {
  headers: Record<CohortTable, string>
  patients: PatientTemplate[]
  /** Admissions that did not end in death (all but a patient's last) and those that did. */
  survivingAdmissions: AdmissionTemplate[]
  fatalAdmissions: AdmissionTemplate[]
  /** Minutes from a discharge to the same patient's next admission. */
  readmissionGaps: number[]
  /** "icd_code,icd_version" per demo row, by ICD version: sampling an entry is frequency-weighted. */
  diagnosisCodes: Map<string, string[]>
  procedureCodes: Map<string, string[]>
  meanAdmissionsPerPatient: number
}

function readDemoTable(hospDir: string, table: CohortTable): CsvTable {
  const file = join(hospDir, `${table}.csv.gz`)
  if (!existsSync(file))
    throw new Error(`MIMIC-IV demo file ${file} not found: set MEDREC_DATA_DIR to the open data folder (it holds ehr/mimic-iv-demo-2.2).`)
  return parseCsvRaw(gunzipSync(readFileSync(file)).toString('utf8'), file)
}

function readHeader(hospDir: string, table: CohortTable): string {
  const file = join(hospDir, `${table}.csv.gz`)
  if (!existsSync(file)) throw new Error(`MIMIC-IV demo file ${file} not found: set MEDREC_DATA_DIR to the open data folder.`)
  const text = gunzipSync(readFileSync(file)).toString('utf8', 0, 4096)
  return text.slice(0, text.indexOf('\n')).replace(/\r$/, '')
}

export function loadDemoDistributions(hospDir: string = demoHospDir()): DemoDistributions {
  const patientsFile = join(hospDir, 'patients.csv.gz')
  const admissionsFile = join(hospDir, 'admissions.csv.gz')
  const patients = readDemoTable(hospDir, 'patients')
  const admissions = readDemoTable(hospDir, 'admissions')
  const diagnoses = readDemoTable(hospDir, 'diagnoses_icd')
  const procedures = readDemoTable(hospDir, 'procedures_icd')
  const prescriptions = readDemoTable(hospDir, 'prescriptions')

  const countBy = (table: CsvTable, file: string): Map<string, number> => {
    const hadm = columnIndex(table, file, 'hadm_id')
    const counts = new Map<string, number>()
    for (const row of table.rows) counts.set(hadm(row), (counts.get(hadm(row)) ?? 0) + 1)
    return counts
  }
  const diagnosisCounts = countBy(diagnoses, 'diagnoses_icd')
  const procedureCounts = countBy(procedures, 'procedures_icd')

  const dxHadm = columnIndex(diagnoses, 'diagnoses_icd', 'hadm_id')
  const dxVersion = columnIndex(diagnoses, 'diagnoses_icd', 'icd_version')
  const versionOfAdmission = new Map<string, string>()
  for (const row of diagnoses.rows) versionOfAdmission.set(dxHadm(row), unquote(dxVersion(row)))

  const col = (name: string) => columnIndex(admissions, admissionsFile, name)
  const [subjectId, hadmId, admitTime, dischTime, deathTime, edReg, edOut, expireFlag] = [
    'subject_id', 'hadm_id', 'admittime', 'dischtime', 'deathtime', 'edregtime', 'edouttime', 'hospital_expire_flag'
  ].map(col) as [(r: string[]) => string, (r: string[]) => string, (r: string[]) => string, (r: string[]) => string,
    (r: string[]) => string, (r: string[]) => string, (r: string[]) => string, (r: string[]) => string]
  const firstCategorical = admissions.columns.indexOf('admission_type')
  const lastCategorical = admissions.columns.indexOf('race')
  if (firstCategorical < 0 || lastCategorical < firstCategorical)
    throw new Error(`${admissionsFile}: expected columns admission_type … race in order (header: ${admissions.header}).`)

  // Prescription rows by admission, with times relative to their admission's admittime.
  const admitOf = new Map<string, number>()
  admissions.rows.forEach((row, i) => admitOf.set(hadmId(row), parseMinutes(unquote(admitTime(row)), `${admissionsFile} record ${i + 2}`)))
  const rxCol = (name: string) => columnIndex(prescriptions, 'prescriptions', name)
  const rxHadm = rxCol('hadm_id')
  const rxStart = rxCol('starttime')
  const rxStop = rxCol('stoptime')
  const rxPoe = rxCol('poe_id')
  const rxProvider = rxCol('order_provider_id')
  const firstDrugColumn = prescriptions.columns.indexOf('drug_type')
  if (firstDrugColumn < 0 || prescriptions.columns.at(-1) !== 'route')
    throw new Error(`prescriptions: expected columns drug_type … route at the end (header: ${prescriptions.header}).`)
  const prescriptionsOf = new Map<string, PrescriptionTemplate[]>()
  prescriptions.rows.forEach((row, i) => {
    const where = `prescriptions record ${i + 2}`
    const admit = admitOf.get(rxHadm(row))
    if (admit === undefined) return // a prescription outside any demo admission has no stay to follow
    const start = rxStart(row) === '' ? null : parseMinutes(unquote(rxStart(row)), where)
    const stop = rxStop(row) === '' ? null : parseMinutes(unquote(rxStop(row)), where)
    const list = prescriptionsOf.get(rxHadm(row)) ?? []
    list.push({
      hasPoe: rxPoe(row) !== '',
      orderProviderId: rxProvider(row),
      startOffset: start === null ? null : start - admit,
      durationMinutes: start === null || stop === null ? null : Math.max(0, stop - start),
      drugColumns: row.slice(firstDrugColumn).join(',')
    })
    prescriptionsOf.set(rxHadm(row), list)
  })

  const offsetOrNull = (raw: string, from: number, where: string) => (raw === '' ? null : parseMinutes(unquote(raw), where) - from)
  const survivingAdmissions: AdmissionTemplate[] = []
  const fatalAdmissions: AdmissionTemplate[] = []
  const stays = new Map<string, { admit: number; discharge: number; died: boolean }[]>()
  admissions.rows.forEach((row, i) => {
    const where = `${admissionsFile} record ${i + 2}`
    const admit = parseMinutes(unquote(admitTime(row)), where)
    const discharge = parseMinutes(unquote(dischTime(row)), where)
    const hadm = hadmId(row)
    const template: AdmissionTemplate = {
      lengthOfStay: Math.max(0, discharge - admit),
      deathOffset: offsetOrNull(deathTime(row), admit, where),
      edRegOffset: offsetOrNull(edReg(row), admit, where),
      edOutOffset: offsetOrNull(edOut(row), admit, where),
      categorical: row.slice(firstCategorical, lastCategorical + 1).join(','),
      hospitalExpireFlag: expireFlag(row),
      diagnosisCount: diagnosisCounts.get(hadm) ?? 0,
      procedureCount: procedureCounts.get(hadm) ?? 0,
      prescriptions: prescriptionsOf.get(hadm) ?? [],
      icdVersion: versionOfAdmission.get(hadm) ?? '9'
    }
    const died = unquote(expireFlag(row)) === '1'
    ;(died ? fatalAdmissions : survivingAdmissions).push(template)
    const list = stays.get(subjectId(row)) ?? []
    list.push({ admit, discharge, died })
    stays.set(subjectId(row), list)
  })

  const readmissionGaps: number[] = []
  for (const list of stays.values()) {
    list.sort((a, b) => a.admit - b.admit)
    for (let i = 1; i < list.length; i++) readmissionGaps.push(Math.max(0, list[i]!.admit - list[i - 1]!.discharge))
  }

  const pCol = (name: string) => columnIndex(patients, patientsFile, name)
  const pSubject = pCol('subject_id')
  const pAnchorYear = pCol('anchor_year')
  const pDod = pCol('dod')
  const demographicColumns = ['gender', 'anchor_age', 'anchor_year', 'anchor_year_group'].map(pCol)
  const patientTemplates: PatientTemplate[] = []
  patients.rows.forEach((row, i) => {
    const list = stays.get(pSubject(row))
    if (!list || list.length === 0) return // a patient without admissions contributes nothing to a visit benchmark
    const anchorYearStart = Math.round(Date.UTC(Number(unquote(pAnchorYear(row))), 0, 1) / 60_000)
    const last = list[list.length - 1]!
    const dod = offsetOrNull(pDod(row), last.discharge, `${patientsFile} record ${i + 2}`)
    patientTemplates.push({
      demographics: demographicColumns.map((c) => c(row)).join(','),
      anchorYearStart,
      firstAdmitOffset: list[0]!.admit - anchorYearStart,
      admissionCount: list.length,
      diedInHospital: last.died,
      dodDaysAfterLastDischarge: dod === null || last.died ? null : Math.max(0, Math.floor(dod / MINUTES_PER_DAY))
    })
  })
  if (patientTemplates.length === 0) throw new Error(`${patientsFile}: no patient has an admission.`)
  if (fatalAdmissions.length === 0 && patientTemplates.some((p) => p.diedInHospital))
    throw new Error(`${admissionsFile}: a patient died in hospital but no admission has hospital_expire_flag 1.`)

  const codePool = (table: CsvTable, file: string): Map<string, string[]> => {
    const code = columnIndex(table, file, 'icd_code')
    const version = columnIndex(table, file, 'icd_version')
    const pool = new Map<string, string[]>()
    for (const row of table.rows) {
      const v = unquote(version(row))
      const list = pool.get(v) ?? []
      list.push(`${code(row)},${version(row)}`)
      pool.set(v, list)
    }
    return pool
  }

  const headers = {} as Record<CohortTable, string>
  const parsed: Partial<Record<CohortTable, CsvTable>> = { patients, admissions, diagnoses_icd: diagnoses, procedures_icd: procedures, prescriptions }
  for (const table of COHORT_TABLES) headers[table] = parsed[table]?.header ?? readHeader(hospDir, table)

  return {
    headers,
    patients: patientTemplates,
    survivingAdmissions,
    fatalAdmissions,
    readmissionGaps: readmissionGaps.length > 0 ? readmissionGaps : [0],
    diagnosisCodes: codePool(diagnoses, 'diagnoses_icd'),
    procedureCodes: codePool(procedures, 'procedures_icd'),
    meanAdmissionsPerPatient: patientTemplates.reduce((s, p) => s + p.admissionCount, 0) / patientTemplates.length
  }
}

// ---------------------------------------------------------------------------------------------
// Streaming gzip CSV writer with bounded buffering.
//
// Each 2 MB chunk of CSV becomes one gzip member, compressed on the libuv thread pool while the
// generator goes on; members are appended in order. Concatenated members form one valid gzip
// file (RFC 1952; zcat, Python's gzip and Node's gunzip read them all), and this lets the
// prescriptions file, ~80% of the bytes, use more than one core. Output is still deterministic.

/** Level 1 compresses ~3x faster than the default 6 for ~25% larger files; the importer reads either. */
const GZIP_LEVEL = 1
const CHUNK_BYTES = 2 << 20
/** Chunks being compressed or waiting to be written, per file: bounds memory to ~16 MB a file. */
const MAX_MEMBERS_IN_FLIGHT = 8

const gzipMember = promisify(gzip)

class GzipCsvWriter {
  rows = 0
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES)
  private used = 0
  private readonly members: Promise<Buffer>[] = []
  private readonly file: WriteStream

  constructor(path: string, header: string) {
    this.file = createWriteStream(path)
    this.used = this.chunk.write(header + '\n')
  }

  /** `line` must end with a newline. Lines go straight into a byte buffer: no string ropes to collect. */
  write(line: string): void {
    // 3 bytes per UTF-16 unit is the UTF-8 worst case, so the line always fits after a flush.
    if (this.used + line.length * 3 > CHUNK_BYTES) this.flush()
    this.used += this.chunk.write(line, this.used)
    this.rows++
  }

  /** Appends bytes holding whole lines (from a LineArena). */
  writeBytes(source: Buffer, start: number, end: number, lines: number): void {
    if (this.used + (end - start) > CHUNK_BYTES) this.flush()
    if (end - start > CHUNK_BYTES) throw new Error(`A ${end - start}-byte row does not fit a ${CHUNK_BYTES}-byte chunk.`)
    this.used += source.copy(this.chunk, this.used, start, end)
    this.rows += lines
  }

  get backlogged(): boolean {
    return this.members.length > MAX_MEMBERS_IN_FLIGHT
  }

  private flush(): void {
    if (this.used === 0) return
    this.members.push(gzipMember(this.chunk.subarray(0, this.used), { level: GZIP_LEVEL }))
    this.chunk = Buffer.allocUnsafe(CHUNK_BYTES)
    this.used = 0
  }

  /** Writes finished members in order until at most `keep` are in flight. */
  async drain(keep = MAX_MEMBERS_IN_FLIGHT): Promise<void> {
    while (this.members.length > keep) {
      const member = await (this.members.shift() as Promise<Buffer>)
      if (!this.file.write(member)) await once(this.file, 'drain')
    }
  }

  async close(): Promise<void> {
    this.flush()
    await this.drain(0)
    this.file.end()
    await finished(this.file)
  }
}

/**
 * Lines held as UTF-8 bytes in one growing buffer, to be written in shuffled order. Holding
 * hundreds of thousands of JS strings instead costs more in GC and string flattening than the
 * whole generation.
 */
class LineArena {
  private bytes = Buffer.allocUnsafe(1 << 24)
  private used = 0
  private starts: number[] = []

  get count(): number {
    return this.starts.length
  }

  add(line: string): void {
    if (this.used + line.length * 3 > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + line.length * 3))
      this.bytes.copy(grown, 0, 0, this.used)
      this.bytes = grown
    }
    this.starts.push(this.used)
    this.used += this.bytes.write(line, this.used)
  }

  /** Writes every line in an order shuffled by `random`, then empties the arena. */
  writeShuffled(writer: GzipCsvWriter, random: SeededRandom): void {
    const order = Array.from({ length: this.starts.length }, (_, i) => i)
    shuffleInPlace(order, random)
    for (const i of order) writer.writeBytes(this.bytes, this.starts[i]!, this.starts[i + 1] ?? this.used, 1)
    this.starts = []
    this.used = 0
  }
}

// ---------------------------------------------------------------------------------------------
// Generation.

export interface CohortOptions {
  patients: number
  seed: number
  /** Output folder; files go to `<outDir>/hosp/`. */
  outDir: string
  visitsPerPatient?: number
  /** Write prescriptions admission by admission instead of interleaved as in the demo's file. */
  groupPrescriptions?: boolean
  demoDir?: string
  onProgress?: (patientsDone: number) => void
}

/** What determines a cohort's content (with the demo files and GENERATOR_VERSION). */
export interface CohortParams {
  patients: number
  seed: number
  visitsPerPatient: number
  groupPrescriptions: boolean
}

export interface CohortManifest {
  generatorVersion: number
  patients: number
  seed: number
  visitsPerPatient: number
  groupPrescriptions: boolean
  rows: Record<(typeof GENERATED_TABLES)[number], number>
  seconds: number
}

// Source ids are unique by construction: subject ids spread over MIMIC's 10000000-19999999 range,
// admission and pharmacy ids a multiplicative permutation of their range (coprime multiplier), so
// admission ids are not in time order, as in MIMIC.
const SUBJECT_ID_BASE = 10_000_000
const SUBJECT_ID_RANGE = 10_000_000
const HADM_ID_BASE = 20_000_000
const HADM_ID_RANGE = 10_000_000
const PHARMACY_ID_BASE = 10_000_000
const PHARMACY_ID_RANGE = 90_000_000
const ID_MULTIPLIER = 7_368_787 // not divisible by 2, 3 or 5: a permutation of both ranges

const permutedId = (index: number, base: number, range: number) => base + ((index * ID_MULTIPLIER) % range)

/** Prescription rows are shuffled within windows of this many patients (~2,500 admissions, ~30 MB). */
const INTERLEAVE_WINDOW_PATIENTS = 256

function shuffleInPlace<T>(items: T[], random: SeededRandom): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.below(i + 1)
    const item = items[i] as T
    items[i] = items[j] as T
    items[j] = item
  }
}

/** Where the benchmarks cache a cohort (bench/out is git-ignored). */
export function defaultCohortDir(params: CohortParams): string {
  const order = params.groupPrescriptions ? '-grouped' : ''
  return join(projectRoot(), 'bench', 'out', `cohort-p${params.patients}-s${params.seed}-v${params.visitsPerPatient}${order}`)
}

export function manifestPath(outDir: string): string {
  return join(outDir, 'cohort.json')
}

export async function generateCohort(options: CohortOptions): Promise<CohortManifest> {
  const { patients, seed } = options
  const visitsPerPatient = options.visitsPerPatient ?? DEFAULT_VISITS_PER_PATIENT
  if (!Number.isInteger(patients) || patients < 1 || patients > SUBJECT_ID_RANGE)
    throw new Error(`patients must be an integer from 1 to ${SUBJECT_ID_RANGE}, got ${patients}.`)
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`seed must be an integer from 0 to 2^32-1, got ${seed}.`)
  if (!(visitsPerPatient > 0)) throw new Error(`visitsPerPatient must be positive, got ${visitsPerPatient}.`)

  const started = performance.now()
  const demoDir = options.demoDir ?? demoHospDir()
  const demo = loadDemoDistributions(demoDir)
  const hospDir = join(options.outDir, 'hosp')
  mkdirSync(hospDir, { recursive: true })
  rmSync(manifestPath(options.outDir), { force: true }) // the old cohort stops being 'complete' as soon as we overwrite it
  const writers = Object.fromEntries(
    GENERATED_TABLES.map((table) => [table, new GzipCsvWriter(join(hospDir, `${table}.csv.gz`), demo.headers[table])])
  ) as Record<(typeof GENERATED_TABLES)[number], GzipCsvWriter>
  const allWriters = Object.values(writers)
  const { patients: patientWriter, admissions: admissionWriter, diagnoses_icd: diagnosisWriter } = writers
  const { procedures_icd: procedureWriter, prescriptions: prescriptionWriter } = writers

  const random = new SeededRandom(seed)
  const scale = visitsPerPatient / demo.meanAdmissionsPerPatient
  const subjectStride = Math.floor(SUBJECT_ID_RANGE / patients)
  let visitIndex = 0
  let prescriptionIndex = 0
  const chosenDiagnoses = new Set<string>()
  const groupPrescriptions = options.groupPrescriptions ?? false
  const prescriptionWindow = new LineArena()
  // Its own stream, so grouped and interleaved cohorts of one seed hold the same rows.
  const shuffleRandom = new SeededRandom((seed ^ 0x5bd1e995) >>> 0)

  for (let p = 0; p < patients; p++) {
    const subject = String(SUBJECT_ID_BASE + p * subjectStride + random.below(subjectStride))
    const patient = random.pick(demo.patients)
    const admissionCount = Math.max(1, Math.floor(patient.admissionCount * scale + random.next()))
    let admit = patient.anchorYearStart + patient.firstAdmitOffset
    let lastDischarge = admit
    let deathDay: string | null = null
    let poeSeq = 0

    for (let a = 0; a < admissionCount; a++) {
      const isLast = a === admissionCount - 1
      if (a > 0) admit = lastDischarge + random.pick(demo.readmissionGaps)
      const stay = random.pick(isLast && patient.diedInHospital ? demo.fatalAdmissions : demo.survivingAdmissions)
      const discharge = admit + stay.lengthOfStay
      lastDischarge = discharge
      if (visitIndex >= HADM_ID_RANGE) throw new Error(`More than ${HADM_ID_RANGE} admissions: lower --patients.`)
      const hadm = String(permutedId(visitIndex++, HADM_ID_BASE, HADM_ID_RANGE))
      const prefix = `${subject},${hadm},`
      const death = stay.deathOffset === null ? '' : formatDateTime(admit + stay.deathOffset)
      if (stay.deathOffset !== null) deathDay = formatDate(admit + stay.deathOffset)
      const edReg = stay.edRegOffset === null ? '' : formatDateTime(admit + stay.edRegOffset)
      const edOut = stay.edOutOffset === null ? '' : formatDateTime(admit + stay.edOutOffset)
      admissionWriter.write(
        `${prefix}${formatDateTime(admit)},${formatDateTime(discharge)},${death},${stay.categorical},${edReg},${edOut},${stay.hospitalExpireFlag}\n`
      )

      const diagnosisPool = demo.diagnosisCodes.get(stay.icdVersion) ?? demo.diagnosisCodes.values().next().value ?? []
      chosenDiagnoses.clear()
      // Distinct codes per admission, as in the demo; the attempt cap only matters for a tiny pool.
      for (let attempts = 0; chosenDiagnoses.size < stay.diagnosisCount && attempts < stay.diagnosisCount * 20; attempts++) {
        const code = random.pick(diagnosisPool)
        if (chosenDiagnoses.has(code)) continue
        chosenDiagnoses.add(code)
        diagnosisWriter.write(`${prefix}${chosenDiagnoses.size},${code}\n`)
      }

      const procedurePool = demo.procedureCodes.get(stay.icdVersion) ?? demo.procedureCodes.values().next().value ?? []
      for (let seq = 1; seq <= stay.procedureCount && procedurePool.length > 0; seq++) {
        const chartDate = formatDate(admit + random.below(stay.lengthOfStay + 1))
        procedureWriter.write(`${prefix}${seq},${chartDate},${random.pick(procedurePool)}\n`)
      }

      for (const rx of stay.prescriptions) {
        const start = rx.startOffset === null ? null : admit + rx.startOffset
        const stop = start === null || rx.durationMinutes === null ? '' : formatDateTime(start + rx.durationMinutes)
        if (prescriptionIndex >= PHARMACY_ID_RANGE) throw new Error(`More than ${PHARMACY_ID_RANGE} prescriptions: lower --patients.`)
        const pharmacyId = permutedId(prescriptionIndex++, PHARMACY_ID_BASE, PHARMACY_ID_RANGE)
        const poe = rx.hasPoe ? `${subject}-${++poeSeq},${poeSeq}` : ','
        const line = `${prefix}${pharmacyId},${poe},${rx.orderProviderId},${start === null ? '' : formatDateTime(start)},${stop},${rx.drugColumns}\n`
        if (groupPrescriptions) prescriptionWriter.write(line)
        else prescriptionWindow.add(line)
      }
    }

    if (deathDay === null && patient.dodDaysAfterLastDischarge !== null)
      deathDay = formatDay(Math.floor(lastDischarge / MINUTES_PER_DAY) + patient.dodDaysAfterLastDischarge)
    patientWriter.write(`${subject},${patient.demographics},${deathDay ?? ''}\n`)

    if ((p + 1) % INTERLEAVE_WINDOW_PATIENTS === 0 || p === patients - 1) {
      prescriptionWindow.writeShuffled(prescriptionWriter, shuffleRandom)
    }
    for (const writer of allWriters) if (writer.backlogged) await writer.drain()
    if ((p & 1023) === 1023) options.onProgress?.(p + 1)
  }

  await Promise.all(allWriters.map((w) => w.close()))
  for (const table of DICTIONARY_TABLES) {
    const target = join(hospDir, `${table}.csv.gz`)
    copyFileSync(join(demoDir, `${table}.csv.gz`), target)
    chmodSync(target, 0o644) // the shared data is read-only; a later regeneration must be able to overwrite the copy
  }
  options.onProgress?.(patients)

  const manifest: CohortManifest = {
    generatorVersion: GENERATOR_VERSION,
    patients,
    seed,
    visitsPerPatient,
    groupPrescriptions,
    rows: {
      patients: patientWriter.rows,
      admissions: admissionWriter.rows,
      diagnoses_icd: diagnosisWriter.rows,
      procedures_icd: procedureWriter.rows,
      prescriptions: prescriptionWriter.rows
    },
    seconds: Math.round((performance.now() - started) / 10) / 100
  }
  // Written last: a cohort without a manifest is incomplete and never reused.
  writeFileSync(manifestPath(options.outDir), JSON.stringify(manifest, null, 2) + '\n')
  return manifest
}

/** The manifest of a complete cohort generated with these parameters by this generator, or null. */
export function readCompleteCohort(outDir: string, params: CohortParams): CohortManifest | null {
  const path = manifestPath(outDir)
  if (!existsSync(path)) return null
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as CohortManifest
  const matches =
    manifest.generatorVersion === GENERATOR_VERSION &&
    manifest.patients === params.patients &&
    manifest.seed === params.seed &&
    manifest.visitsPerPatient === params.visitsPerPatient &&
    manifest.groupPrescriptions === params.groupPrescriptions &&
    COHORT_TABLES.every((table) => existsSync(join(outDir, 'hosp', `${table}.csv.gz`)))
  return matches ? manifest : null
}

// ---------------------------------------------------------------------------------------------
// CLI

function parseIntegerFlag(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new Error(`--${flag} must be a non-negative integer, got "${value}".`)
  return n
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      patients: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      'visits-per-patient': { type: 'string' },
      'grouped-prescriptions': { type: 'boolean', default: false }
    }
  })
  const patients = parseIntegerFlag(values.patients, 'patients', 100_000)
  const seed = parseIntegerFlag(values.seed, 'seed', 1)
  const visitsPerPatient = values['visits-per-patient'] === undefined ? DEFAULT_VISITS_PER_PATIENT : Number(values['visits-per-patient'])
  if (!(visitsPerPatient > 0)) throw new Error(`--visits-per-patient must be a positive number, got "${values['visits-per-patient']}".`)
  const groupPrescriptions = values['grouped-prescriptions'] ?? false
  const outDir = values.out === undefined ? defaultCohortDir({ patients, seed, visitsPerPatient, groupPrescriptions }) : resolve(values.out)
  console.log(`Generating ${patients} patients (seed ${seed}, ~${visitsPerPatient} visits each) into ${outDir}/hosp …`)
  const manifest = await generateCohort({
    patients,
    seed,
    outDir,
    visitsPerPatient,
    groupPrescriptions,
    onProgress: (done) => {
      if (done % 16384 < 1024 || done === patients) process.stdout.write(`\r  ${done} / ${patients} patients`)
    }
  })
  process.stdout.write('\n')
  const r = manifest.rows
  console.log(
    `Done in ${manifest.seconds} s: ${r.patients} patients, ${r.admissions} admissions, ${r.diagnoses_icd} diagnoses, ` +
      `${r.procedures_icd} procedures, ${r.prescriptions} prescriptions.`
  )
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error)
    process.exit(1)
  })
}
