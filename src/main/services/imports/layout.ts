// Where each format keeps its files, and the columns each file must have. Every file is located and
// its header checked before anything is written, so a wrong folder or a wrong --format fails at once
// with a message that says what was expected and, when it can tell, which layout the folder has.
import type { EhrFormat } from '../../../shared/domain/patient'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { headerError, missingColumns, readCsvHeader, type CsvColumns, type CsvSource } from './csv'
import { ImportError } from './errors'

export interface LayoutFile extends CsvSource {
  role: string
  columns: CsvColumns
  size: number
}

export interface Layout {
  format: EhrFormat
  /** The folder the user named. */
  dir: string
  files: Record<string, LayoutFile>
}

interface FileSpec {
  role: string
  /** File name without extension; matched case-insensitively with .csv.gz or .csv. */
  base: string
  columns: CsvColumns
}

// Column names are matched case-insensitively, so MIMIC-III's SUBJECT_ID and the lower-case
// subject_id of the MIMIC-III demo both match 'subject_id'.
const MIMIC_IV_FILES: FileSpec[] = [
  // anchor_age (91: "over 89") in the shifted anchor_year gives the age at each admission (imports/age.ts).
  { role: 'patients', base: 'patients', columns: { required: ['subject_id', 'gender'], optional: ['anchor_age', 'anchor_year'] } },
  { role: 'admissions', base: 'admissions', columns: { required: ['subject_id', 'hadm_id', 'admittime', 'dischtime'] } },
  { role: 'diagnoses', base: 'diagnoses_icd', columns: { required: ['hadm_id', 'seq_num', 'icd_code', 'icd_version'] } },
  { role: 'procedures', base: 'procedures_icd', columns: { required: ['hadm_id', 'seq_num', 'icd_code', 'icd_version'] } },
  { role: 'prescriptions', base: 'prescriptions', columns: { required: ['hadm_id', 'drug', 'ndc', 'gsn', 'starttime'] } },
  { role: 'diagnosisTitles', base: 'd_icd_diagnoses', columns: { required: ['icd_code', 'icd_version', 'long_title'] } },
  { role: 'procedureTitles', base: 'd_icd_procedures', columns: { required: ['icd_code', 'icd_version', 'long_title'] } }
]

const MIMIC_III_FILES: FileSpec[] = [
  // DOB (shifted ~300 years back for anyone over 89) gives the age at each admission.
  { role: 'patients', base: 'PATIENTS', columns: { required: ['subject_id', 'gender'], optional: ['dob'] } },
  { role: 'admissions', base: 'ADMISSIONS', columns: { required: ['subject_id', 'hadm_id', 'admittime', 'dischtime'] } },
  { role: 'diagnoses', base: 'DIAGNOSES_ICD', columns: { required: ['hadm_id', 'seq_num', 'icd9_code'] } },
  { role: 'procedures', base: 'PROCEDURES_ICD', columns: { required: ['hadm_id', 'seq_num', 'icd9_code'] } },
  { role: 'prescriptions', base: 'PRESCRIPTIONS', columns: { required: ['hadm_id', 'drug', 'ndc', 'gsn', 'startdate'] } },
  { role: 'diagnosisTitles', base: 'D_ICD_DIAGNOSES', columns: { required: ['icd9_code', 'long_title'] } },
  { role: 'procedureTitles', base: 'D_ICD_PROCEDURES', columns: { required: ['icd9_code', 'long_title'] } }
]

const EICU_FILES: FileSpec[] = [
  {
    role: 'patient',
    base: 'patient',
    columns: {
      required: ['patientunitstayid', 'patienthealthsystemstayid', 'uniquepid', 'gender', 'hospitaladmitoffset', 'hospitaldischargeyear', 'unitvisitnumber'],
      // Age at the stay: a number, "> 89" or empty.
      optional: ['age']
    }
  },
  {
    role: 'diagnosis',
    base: 'diagnosis',
    columns: { required: ['patientunitstayid', 'diagnosisstring', 'icd9code'], optional: ['diagnosispriority'] }
  },
  { role: 'treatment', base: 'treatment', columns: { required: ['patientunitstayid', 'treatmentstring'] } },
  {
    role: 'medication',
    base: 'medication',
    columns: { required: ['patientunitstayid', 'drugname', 'drughiclseqno'], optional: ['drugordercancelled', 'routeadmin'] }
  }
]

// FHIR has no CSV layout: it has its own importer (imports/fhir).
const FILES: Partial<Record<EhrFormat, FileSpec[]>> = { 'mimic-iv': MIMIC_IV_FILES, 'mimic-iii': MIMIC_III_FILES, eicu: EICU_FILES }

const FORMAT_NAMES: Record<EhrFormat, string> = { 'mimic-iv': 'MIMIC-IV', 'mimic-iii': 'MIMIC-III', eicu: 'eICU', fhir: 'FHIR R4' }

export function formatName(format: EhrFormat): string {
  return FORMAT_NAMES[format]
}

/** Finds `base`.csv.gz or `base`.csv in `dir`, ignoring case (MIMIC-III exports vary). */
function findFile(dir: string, entries: string[], base: string): string | null {
  const wanted = [`${base}.csv.gz`, `${base}.csv`].map((n) => n.toLowerCase())
  for (const name of wanted) {
    const hit = entries.find((entry) => entry.toLowerCase() === name)
    if (hit) return join(dir, hit)
  }
  return null
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

/** The folder holding the tables: MIMIC-IV keeps them under hosp/, but hosp/ itself may be given. */
function tableDir(format: EhrFormat, dir: string): string {
  if (format === 'mimic-iv' && existsSync(join(dir, 'hosp')) && statSync(join(dir, 'hosp')).isDirectory()) return join(dir, 'hosp')
  return dir
}

/** Which known layouts a folder looks like (by its files), to suggest the right --format. */
export function detectFormats(dir: string): EhrFormat[] {
  const found: EhrFormat[] = []
  const has = (folder: string, base: string, exactCase?: boolean): boolean =>
    listDir(folder).some((entry) => {
      const name = exactCase ? entry : entry.toLowerCase()
      return name === `${base}.csv.gz` || name === `${base}.csv`
    })
  const hosp = tableDir('mimic-iv', dir)
  if (has(hosp, 'admissions', true) && has(hosp, 'diagnoses_icd', true)) found.push('mimic-iv')
  if (has(dir, 'ADMISSIONS', true) && has(dir, 'DIAGNOSES_ICD', true)) found.push('mimic-iii')
  if (has(dir, 'patient') && has(dir, 'diagnosis') && has(dir, 'medication')) found.push('eicu')
  return found
}

function layoutHint(format: EhrFormat, dir: string): string {
  const others = detectFormats(dir).filter((f) => f !== format)
  if (others.length === 0) return ''
  const names = others.map(formatName).join(' or ')
  return ` The folder looks like ${/^[aeiou]/i.test(names) ? 'an' : 'a'} ${names} export: use --format ${others[0]}.`
}

/**
 * Locates every file of `format` in `dir` and checks each header. Throws ImportError for a missing
 * folder, a missing file or missing columns, naming what was expected.
 */
export async function resolveLayout(format: EhrFormat, dir: string): Promise<Layout> {
  const specs = FILES[format]
  if (!specs) throw new ImportError(`Unknown format "${String(format)}": expected mimic-iv, mimic-iii or eicu.`)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ImportError(`The folder ${dir} does not exist.`)
  const folder = tableDir(format, dir)
  const entries = listDir(folder)
  const files: Record<string, LayoutFile> = {}
  const missing: string[] = []
  for (const spec of specs) {
    const path = findFile(folder, entries, spec.base)
    if (!path) {
      missing.push(`${relative(dir, join(folder, spec.base)) || spec.base}.csv.gz`)
      continue
    }
    files[spec.role] = { role: spec.role, path, displayName: relative(dir, path), columns: spec.columns, size: statSync(path).size }
  }
  if (missing.length > 0) {
    const where = format === 'mimic-iv' ? ' (in the folder or its hosp/ subfolder)' : ''
    throw new ImportError(
      `${dir} is not a complete ${formatName(format)} export: missing ${missing.join(', ')}${where}.${layoutHint(format, dir)}`,
      missing[0]
    )
  }
  for (const file of Object.values(files)) {
    const header = await readCsvHeader(file)
    const absent = missingColumns(header, file.columns.required)
    if (absent.length > 0) {
      const error = headerError(file, header, absent)
      throw new ImportError(error.message + layoutHint(format, dir), file.displayName, 1)
    }
  }
  return { format, dir, files }
}
