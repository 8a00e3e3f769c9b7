// MIMIC-IV (hosp/*.csv.gz, lower-case names, ICD-9 and ICD-10 with icd_version) and MIMIC-III
// (upper-case files and columns, ICD-9 only, STARTDATE) share one importer: the differences are the
// column names and where the ICD version comes from.
//
// Order: code titles, patients, admissions (→ visits), then diagnoses, procedures and prescriptions,
// which refer to admissions by hadm_id. Only three maps are held in memory (subject_id → patient id, subject_id →
// one number dating the patient, and hadm_id → visit id: about 100 MB at a million admissions); every other row is
// written as it is read.
import type { CodeKind, CodeSystem } from '../../../shared/domain/patient'
import { ageAt, mimicIvAge, parseStatedAge, type BirthDate, type VisitAge } from './age'
import { codeProblem, mimicCodeSystem } from './codes'
import { rejectMalformed, type ImportContext } from './context'
import { parseSourceTime, validOnlySwapped } from './dates'
import { ImportError } from './errors'

interface Flavor {
  /** Column holding the ICD code in diagnoses/procedures and the dictionaries. */
  codeColumn: string
  /** Column holding 9 or 10, or null when every code is ICD-9 (MIMIC-III). */
  versionColumn: string | null
  prescriptionStart: string
}

const MIMIC_IV: Flavor = { codeColumn: 'icd_code', versionColumn: 'icd_version', prescriptionStart: 'starttime' }
const MIMIC_III: Flavor = { codeColumn: 'icd9_code', versionColumn: null, prescriptionStart: 'startdate' }

export async function importMimic(ctx: ImportContext, version: 'mimic-iv' | 'mimic-iii'): Promise<void> {
  const flavor = version === 'mimic-iv' ? MIMIC_IV : MIMIC_III
  await importTitles(ctx, flavor, 'diagnosis', 'diagnosisTitles')
  await importTitles(ctx, flavor, 'procedure', 'procedureTitles')
  const patients = await importPatients(ctx, version)
  const visits = await importAdmissions(ctx, patients, version)
  patients.ids.clear()
  patients.dating.clear()
  await importCodes(ctx, flavor, 'diagnosis', 'diagnoses', visits)
  await importCodes(ctx, flavor, 'procedure', 'procedures', visits)
  await importPrescriptions(ctx, flavor, visits)
}

const clean = (value: string): string => value.trim()

/** Stops the import on a date that is valid only with month and day swapped (see validOnlySwapped). */
function refuseSwappedDate(file: string, line: number, column: string, raw: string): void {
  const swapped = validOnlySwapped(raw)
  if (swapped === null) return
  throw new ImportError(
    `${file} line ${line}: ${column} "${raw}" is valid only with month and day swapped (${swapped.replace('T', ' ')}). ` +
      'The export seems to write dates as YYYY-DD-MM, so its other dates cannot be trusted either; nothing was imported. ' +
      'Export dates as YYYY-MM-DD.',
    file,
    line
  )
}

async function importTitles(ctx: ImportContext, flavor: Flavor, kind: CodeKind, role: string): Promise<void> {
  const file = ctx.layout.files[role]!
  const columns = [flavor.codeColumn, ...(flavor.versionColumn ? [flavor.versionColumn] : []), 'long_title']
  const spec = { ...file, columns: { required: columns } }
  for await (const batch of ctx.progress.batches(spec, `Reading ${kind} titles`)) {
    rejectMalformed(ctx, file, batch)
    const width = batch.width
    for (let i = 0; i < batch.count; i++) {
      const code = clean(batch.fields[i * width]!)
      const icdVersion = flavor.versionColumn ? clean(batch.fields[i * width + 1]!) : '9'
      const title = clean(batch.fields[i * width + width - 1]!)
      const system = mimicCodeSystem(kind, icdVersion)
      if (code === '' || title === '' || !system) {
        ctx.log.reject(file.displayName, batch.lines[i]!, !system ? `unknown icd_version "${icdVersion}"` : 'empty code or title')
        continue
      }
      ctx.store.title(kind, system, code, title, true)
    }
  }
}

/** MIMIC writes F and M; anything else is kept as written, an empty cell as unknown. */
function sexOf(gender: string): string | null {
  const g = gender.trim().toUpperCase()
  return g === '' ? null : g
}

interface ImportedPatients {
  /** subject_id → stored patient id. */
  ids: Map<string, number>
  /** subject_id → what dates the patient, as one number (datingOf), for patients whose export gives it. */
  dating: Map<string, number>
}

/**
 * What dates a patients row, packed into one number (a million patients): MIMIC-IV anchor_year × 1000 +
 * anchor_age (top-coded), MIMIC-III's DOB as YYYYMMDD. Null when the row gives nothing (columns absent or
 * empty); a problem naming the column when what it gives is not valid.
 */
function datingOf(version: 'mimic-iv' | 'mimic-iii', fields: string[], at: number): { dating: number | null } | { problem: string } {
  if (version === 'mimic-iv') {
    const [ageRaw, yearRaw] = [fields[at]!, clean(fields[at + 1]!)]
    const stated = parseStatedAge(ageRaw, 'anchor_age')
    if ('problem' in stated) return stated
    if (yearRaw !== '' && !/^\d{4}$/.test(yearRaw)) return { problem: `anchor_year "${yearRaw}" is not a year` }
    if (stated.age === null && yearRaw === '') return { dating: null }
    if (stated.age === null || yearRaw === '') return { problem: `anchor_age "${clean(ageRaw)}" and anchor_year "${yearRaw}" go together: give both or neither` }
    return { dating: Number(yearRaw) * 1000 + stated.age }
  }
  const dobRaw = clean(fields[at]!)
  if (dobRaw === '') return { dating: null }
  const dob = parseSourceTime(dobRaw)
  if (!dob) return { problem: `dob "${dobRaw}" is not a date (expected YYYY-MM-DD HH:MM:SS)` }
  return { dating: Number(dob.slice(0, 10).replaceAll('-', '')) }
}

/** The age at an admission from datingOf's number. */
function ageAtAdmission(version: 'mimic-iv' | 'mimic-iii', dating: number, admitTime: string): VisitAge {
  // Anchor ages are stored top-coded (91 → 90): mimicIvAge reads 90 as "over 89 in the anchor year".
  if (version === 'mimic-iv') return mimicIvAge(dating % 1000, Math.floor(dating / 1000), admitTime)
  // MIMIC-III shifts the DOB of patients over 89 about 300 years back: their computed age is top-coded to 90.
  const birth: BirthDate = { year: Math.floor(dating / 10000), month: Math.floor(dating / 100) % 100, day: dating % 100 }
  return ageAt(birth, admitTime)
}

async function importPatients(ctx: ImportContext, version: 'mimic-iv' | 'mimic-iii'): Promise<ImportedPatients> {
  const file = ctx.layout.files.patients!
  const patients: ImportedPatients = { ids: new Map(), dating: new Map() }
  const firstLine = new Map<string, number>()
  for await (const batch of ctx.progress.batches(file, 'Importing patients')) {
    rejectMalformed(ctx, file, batch)
    const width = batch.width
    for (let i = 0; i < batch.count; i++) {
      const subject = clean(batch.fields[i * width]!)
      const line = batch.lines[i]!
      if (subject === '') {
        ctx.log.reject(file.displayName, line, 'empty subject_id')
        continue
      }
      if (patients.ids.has(subject)) {
        ctx.log.reject(file.displayName, line, `duplicate subject_id ${subject} (first on line ${firstLine.get(subject)})`)
        continue
      }
      const dating = datingOf(version, batch.fields, i * width + 2)
      if ('problem' in dating) {
        ctx.log.reject(file.displayName, line, dating.problem)
        continue
      }
      patients.ids.set(subject, ctx.store.patient(subject, sexOf(batch.fields[i * width + 1]!)))
      if (dating.dating !== null) patients.dating.set(subject, dating.dating)
      firstLine.set(subject, line)
    }
  }
  return patients
}

/** "2196-02-24T14:38:00" → "2196-02-24 14:38", the visit's label in the timeline. */
function labelOf(admitTime: string): string {
  return admitTime.slice(0, 16).replace('T', ' ')
}

async function importAdmissions(ctx: ImportContext, patients: ImportedPatients, version: 'mimic-iv' | 'mimic-iii'): Promise<Map<string, number>> {
  const file = ctx.layout.files.admissions!
  const visits = new Map<string, number>()
  for await (const batch of ctx.progress.batches(file, 'Importing admissions')) {
    rejectMalformed(ctx, file, batch)
    for (let i = 0; i < batch.count; i++) {
      const base = i * 4
      const subject = clean(batch.fields[base]!)
      const hadm = clean(batch.fields[base + 1]!)
      const admitRaw = clean(batch.fields[base + 2]!)
      const dischargeRaw = clean(batch.fields[base + 3]!)
      const line = batch.lines[i]!
      const patientId = patients.ids.get(subject)
      if (hadm === '') {
        ctx.log.reject(file.displayName, line, 'empty hadm_id')
        continue
      }
      if (patientId === undefined) {
        ctx.log.reject(file.displayName, line, `admission ${hadm} of unknown patient subject_id "${subject}" (not in the patients file)`)
        continue
      }
      if (visits.has(hadm)) {
        ctx.log.reject(file.displayName, line, `duplicate admission hadm_id ${hadm}`)
        continue
      }
      const owner = ctx.store.storedForAnotherPatient(hadm, patientId)
      if (owner !== null) {
        ctx.log.reject(
          file.displayName,
          line,
          `admission hadm_id ${hadm} is stored for another patient (subject_id ${owner}), not ${subject}: an import never moves visits between patients`
        )
        continue
      }
      const admitTime = parseSourceTime(admitRaw)
      if (!admitTime) {
        refuseSwappedDate(file.displayName, line, 'admittime', admitRaw)
        ctx.log.reject(file.displayName, line, `unparseable admittime "${admitRaw}" (expected YYYY-MM-DD HH:MM:SS)`)
        continue
      }
      const dischargeTime = dischargeRaw === '' ? null : parseSourceTime(dischargeRaw)
      if (dischargeRaw !== '' && !dischargeTime) {
        refuseSwappedDate(file.displayName, line, 'dischtime', dischargeRaw)
        ctx.log.reject(file.displayName, line, `unparseable dischtime "${dischargeRaw}" (expected YYYY-MM-DD HH:MM:SS)`)
        continue
      }
      const dating = patients.dating.get(subject)
      const age = dating === undefined ? undefined : ageAtAdmission(version, dating, admitTime)
      if (age?.age === null) ctx.log.warn(file.displayName, line, `age at admission ${hadm} unknown: ${age.unknown}`)
      // Visits are ordered by admission time, never by hadm_id (MIMIC's ids are not chronological).
      const visitId = ctx.store.visit({
        patientId,
        sourceVisitId: hadm,
        admitTime,
        dischargeTime,
        sortKey: admitTime,
        orderLabel: labelOf(admitTime),
        age: age ?? { age: null, unknown: 'the patients file gives no age' }
      })
      visits.set(hadm, visitId)
    }
  }
  return visits
}

async function importCodes(
  ctx: ImportContext,
  flavor: Flavor,
  kind: CodeKind,
  role: 'diagnoses' | 'procedures',
  visits: Map<string, number>
): Promise<void> {
  const file = ctx.layout.files[role]!
  const columns = ['hadm_id', 'seq_num', flavor.codeColumn, ...(flavor.versionColumn ? [flavor.versionColumn] : [])]
  const spec = { ...file, columns: { required: columns } }
  const add = kind === 'diagnosis' ? ctx.store.diagnosis.bind(ctx.store) : ctx.store.procedure.bind(ctx.store)
  let lastVersion = ''
  let lastSystem: CodeSystem | null = null
  for await (const batch of ctx.progress.batches(spec, `Importing ${role}`)) {
    rejectMalformed(ctx, file, batch)
    const width = batch.width
    for (let i = 0; i < batch.count; i++) {
      const base = i * width
      const hadm = clean(batch.fields[base]!)
      const seqRaw = clean(batch.fields[base + 1]!)
      const code = clean(batch.fields[base + 2]!).toUpperCase()
      const icdVersion = flavor.versionColumn ? clean(batch.fields[base + 3]!) : '9'
      const line = batch.lines[i]!
      const visitId = visits.get(hadm)
      if (visitId === undefined) {
        ctx.log.reject(file.displayName, line, `${kind} for unknown admission hadm_id "${hadm}"`)
        continue
      }
      if (icdVersion !== lastVersion) {
        lastVersion = icdVersion
        lastSystem = mimicCodeSystem(kind, icdVersion)
      }
      if (!lastSystem) {
        ctx.log.reject(file.displayName, line, `unknown icd_version "${icdVersion}" (expected 9 or 10)`)
        continue
      }
      const problem = codeProblem(kind, lastSystem, code)
      if (problem) {
        ctx.log.reject(file.displayName, line, problem)
        continue
      }
      const seq = seqRaw === '' ? 0 : Number(seqRaw)
      if (!Number.isInteger(seq)) {
        ctx.log.reject(file.displayName, line, `seq_num "${seqRaw}" is not a whole number`)
        continue
      }
      add(visitId, seq, lastSystem, code)
    }
  }
}

async function importPrescriptions(ctx: ImportContext, flavor: Flavor, visits: Map<string, number>): Promise<void> {
  const file = ctx.layout.files.prescriptions!
  // The route column (when present) picks the route-appropriate ATC code (inhaled vs oral salbutamol).
  const spec = { ...file, columns: { required: ['hadm_id', 'drug', 'ndc', 'gsn', flavor.prescriptionStart], optional: ['route'] } }
  for await (const batch of ctx.progress.batches(spec, 'Importing prescriptions')) {
    rejectMalformed(ctx, file, batch)
    for (let i = 0; i < batch.count; i++) {
      const base = i * batch.width
      const hadm = clean(batch.fields[base]!)
      const line = batch.lines[i]!
      const visitId = visits.get(hadm)
      if (visitId === undefined) {
        ctx.log.reject(file.displayName, line, `prescription for unknown admission hadm_id "${hadm}"`)
        continue
      }
      const name = clean(batch.fields[base + 1]!)
      const ndc = clean(batch.fields[base + 2]!)
      const gsn = clean(batch.fields[base + 3]!)
      const startRaw = clean(batch.fields[base + 4]!)
      const startTime = startRaw === '' ? null : parseSourceTime(startRaw)
      if (startRaw !== '' && !startTime) {
        refuseSwappedDate(file.displayName, line, flavor.prescriptionStart, startRaw)
        ctx.log.reject(file.displayName, line, `unparseable ${flavor.prescriptionStart} "${startRaw}"`)
        continue
      }
      if (name === '' && ndc === '' && gsn === '') {
        ctx.log.reject(file.displayName, line, 'prescription with no drug name, NDC or GSN')
        continue
      }
      // MIMIC writes NDC 0 for "none".
      const route = clean(batch.fields[base + 5] ?? '') || null
      const drug = { rawName: name, ndc: ndc === '' || ndc === '0' ? null : ndc, gsn: gsn === '' ? null : gsn, otherId: null, route }
      const mapping = ctx.store.medication(visitId, drug, startTime, () => ctx.mapper.map({ name, ndc, gsn, route }))
      ctx.tally.count(mapping)
    }
  }
}
