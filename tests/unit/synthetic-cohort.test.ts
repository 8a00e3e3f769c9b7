import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { COHORT_TABLES, type CohortManifest, demoHospDir, generateCohort, readCompleteCohort, SeededRandom } from '../../bench/synthetic-cohort'
import { openDatabase } from '../../src/main/services/db/database'
import { listPatients } from '../../src/main/services/db/patients-repo'

const firstLine = (file: string) => gunzipSync(readFileSync(file)).toString('utf8', 0, 4096).split('\n')[0]

// Reads a generated or demo table as rows of unquoted fields (these files hold no embedded newlines).
const tables = new Map<string, { header: string; rows: string[][] }>()
function readTable(file: string): { header: string; rows: string[][] } {
  const cached = tables.get(file)
  if (cached) return cached
  const table = parseTable(file)
  tables.set(file, table)
  return table
}

function parseTable(file: string): { header: string; rows: string[][] } {
  const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n')
  if (lines.at(-1) === '') lines.pop()
  const header = lines.shift() ?? ''
  return { header, rows: lines.map(splitCsvLine) }
}

function splitCsvLine(line: string): string[] {
  if (!line.includes('"')) return line.split(',')
  const fields: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]
    if (quoted && ch === '"' && line[i + 1] === '"') {
      field += '"'
      i++
    } else if (ch === '"') {
      quoted = !quoted
    } else if (ch === ',' && !quoted) {
      fields.push(field)
      field = ''
    } else {
      field += ch
    }
  }
  fields.push(field)
  return fields
}

type Table = ReturnType<typeof readTable>
const column = (table: Table, name: string) => {
  const index = table.header.split(',').indexOf(name)
  if (index < 0) throw new Error(`no column ${name} in ${table.header}`)
  return (row: string[]) => row[index] as string
}

describe('synthetic MIMIC-IV cohort', () => {
  const dirs: string[] = []
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'medrec-cohort-'))
    dirs.push(dir)
    return dir
  }
  let first: string
  let manifest: CohortManifest
  const hosp = (table: string, dir = first) => join(dir, 'hosp', `${table}.csv.gz`)

  beforeAll(async () => {
    first = tempDir()
    manifest = await generateCohort({ patients: 120, seed: 7, outDir: first })
  })
  afterAll(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })))

  it('is byte-identical for the same seed and size, and differs for another seed', async () => {
    const again = tempDir()
    await generateCohort({ patients: 120, seed: 7, outDir: again })
    for (const table of COHORT_TABLES) expect(readFileSync(hosp(table, again)).equals(readFileSync(hosp(table))), table).toBe(true)

    const other = tempDir()
    await generateCohort({ patients: 120, seed: 8, outDir: other })
    expect(readFileSync(hosp('admissions', other)).equals(readFileSync(hosp('admissions')))).toBe(false)
  })

  it('writes every table with the demo header', () => {
    for (const table of COHORT_TABLES) {
      expect(firstLine(hosp(table)), table).toBe(firstLine(join(demoHospDir(), `${table}.csv.gz`)))
    }
  })

  it('reports the row counts it wrote, with about 10 visits per patient', () => {
    for (const table of ['patients', 'admissions', 'diagnoses_icd', 'procedures_icd', 'prescriptions'] as const)
      expect(readTable(hosp(table)).rows.length, table).toBe(manifest.rows[table])
    expect(manifest.rows.patients).toBe(120)
    const visitsPerPatient = manifest.rows.admissions / manifest.rows.patients
    expect(visitsPerPatient).toBeGreaterThan(7)
    expect(visitsPerPatient).toBeLessThan(13)
    // The demo's per-admission density (~16 diagnoses, ~66 prescription rows) carries over.
    expect(manifest.rows.diagnoses_icd / manifest.rows.admissions).toBeGreaterThan(10)
    expect(manifest.rows.prescriptions / manifest.rows.admissions).toBeGreaterThan(30)
  })

  it('references only existing patients and admissions, with unique ids', () => {
    const patients = readTable(hosp('patients'))
    const subjects = new Set(patients.rows.map(column(patients, 'subject_id')))
    expect(subjects.size).toBe(patients.rows.length)

    const admissions = readTable(hosp('admissions'))
    const subjectOfAdmission = new Map<string, string>()
    for (const row of admissions.rows) {
      const subject = column(admissions, 'subject_id')(row)
      expect(subjects.has(subject)).toBe(true)
      subjectOfAdmission.set(column(admissions, 'hadm_id')(row), subject)
    }
    expect(subjectOfAdmission.size).toBe(admissions.rows.length)

    for (const table of ['diagnoses_icd', 'procedures_icd', 'prescriptions']) {
      const child = readTable(hosp(table))
      const hadm = column(child, 'hadm_id')
      const subject = column(child, 'subject_id')
      const orphans = child.rows.filter((row) => subjectOfAdmission.get(hadm(row)) !== subject(row))
      expect(orphans, table).toEqual([])
    }
  })

  it('gives each patient non-overlapping stays and each admission distinct codes of one ICD version found in the dictionary', () => {
    const admissions = readTable(hosp('admissions'))
    const [subject, admit, discharge] = ['subject_id', 'admittime', 'dischtime'].map((c) => column(admissions, c))
    const lastDischarge = new Map<string, string>()
    for (const row of admissions.rows) {
      expect(admit!(row) <= discharge!(row)).toBe(true)
      const previous = lastDischarge.get(subject!(row))
      if (previous !== undefined) expect(previous <= admit!(row)).toBe(true)
      lastDischarge.set(subject!(row), discharge!(row))
    }

    const dictionary = readTable(hosp('d_icd_diagnoses'))
    const known = new Set(dictionary.rows.map((r) => `${r[0]}|${r[1]}`))
    const diagnoses = readTable(hosp('diagnoses_icd'))
    const [hadm, seq, code, version] = ['hadm_id', 'seq_num', 'icd_code', 'icd_version'].map((c) => column(diagnoses, c))
    const codesOf = new Map<string, { codes: Set<string>; versions: Set<string>; seqs: number[] }>()
    for (const row of diagnoses.rows) {
      expect(known.has(`${code!(row)}|${version!(row)}`)).toBe(true)
      const entry = codesOf.get(hadm!(row)) ?? { codes: new Set(), versions: new Set(), seqs: [] }
      entry.codes.add(code!(row))
      entry.versions.add(version!(row))
      entry.seqs.push(Number(seq!(row)))
      codesOf.set(hadm!(row), entry)
    }
    for (const { codes, versions, seqs } of codesOf.values()) {
      expect(codes.size).toBe(seqs.length)
      expect(versions.size).toBe(1)
      expect(seqs).toEqual(seqs.map((_, i) => i + 1))
    }
  })

  it('keeps the demo prescriptions per admission (repeated orders) and interleaves admissions in the file unless grouped', async () => {
    const rows = readTable(hosp('prescriptions'))
    const hadm = column(rows, 'hadm_id')
    const drug = column(rows, 'drug')
    const runsOfAdmission = (table: Table) => table.rows.filter((row, i) => i === 0 || hadm(row) !== hadm(table.rows[i - 1]!)).length
    // The demo orders each drug ~2.1 times per admission (8,548 admission-drug pairs in 18,087 rows).
    const pairs = new Set(rows.rows.map((row) => `${hadm(row)}|${drug(row)}`))
    expect(pairs.size / rows.rows.length).toBeGreaterThan(0.35)
    expect(pairs.size / rows.rows.length).toBeLessThan(0.65)
    // As in the demo's file, consecutive rows rarely belong to the same admission.
    expect(runsOfAdmission(rows) / rows.rows.length).toBeGreaterThan(0.9)

    const grouped = tempDir()
    await generateCohort({ patients: 120, seed: 7, outDir: grouped, groupPrescriptions: true })
    const groupedRows = readTable(hosp('prescriptions', grouped))
    expect(runsOfAdmission(groupedRows)).toBe(new Set(groupedRows.rows.map(hadm)).size)
    const sortedLines = (table: Table) => table.rows.map((r) => r.join(',')).sort()
    expect(sortedLines(groupedRows)).toEqual(sortedLines(rows)) // the same rows, only in another order
    for (const table of ['admissions', 'diagnoses_icd']) expect(readFileSync(hosp(table, grouped)).equals(readFileSync(hosp(table))), table).toBe(true)
  })

  it('copies prescription drug columns from demo rows', () => {
    const demo = readTable(join(demoHospDir(), 'prescriptions.csv.gz'))
    const generated = readTable(hosp('prescriptions'))
    const drugColumns = (table: Table) => {
      const start = table.header.split(',').indexOf('drug_type')
      return (row: string[]) => row.slice(start).join('\u0001')
    }
    const demoDrugs = new Set(demo.rows.map(drugColumns(demo)))
    const unknown = generated.rows.map(drugColumns(generated)).filter((d) => !demoDrugs.has(d))
    expect(unknown).toEqual([])
  })

  it('is reused only when complete and generated with the same parameters', () => {
    expect(readCompleteCohort(first, { patients: 120, seed: 7, visitsPerPatient: 10, groupPrescriptions: false })).toEqual(manifest)
    expect(readCompleteCohort(first, { patients: 301, seed: 7, visitsPerPatient: 10, groupPrescriptions: false })).toBeNull()
    expect(readCompleteCohort(first, { patients: 120, seed: 1, visitsPerPatient: 10, groupPrescriptions: false })).toBeNull()
    expect(readCompleteCohort(first, { patients: 120, seed: 7, visitsPerPatient: 10, groupPrescriptions: true })).toBeNull()
    rmSync(hosp('prescriptions'))
    tables.clear()
    expect(readCompleteCohort(first, { patients: 120, seed: 7, visitsPerPatient: 10, groupPrescriptions: false })).toBeNull()
  })

  it('rejects invalid sizes with a message naming the argument', async () => {
    await expect(generateCohort({ patients: 0, seed: 1, outDir: tempDir() })).rejects.toThrow(/patients must be an integer/)
    await expect(generateCohort({ patients: 10, seed: -1, outDir: tempDir() })).rejects.toThrow(/seed must be an integer/)
  })
})

// listPatients switches plan with the number of matches (prefix index below 2000, id-order walk
// above, a fix the import benchmark motivated); both must give exactly the page the contract says.
describe('patient id-prefix search at benchmark scale', () => {
  it('returns the matching patients in id order, a page at a time, whichever plan it uses', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medrec-search-'))
    try {
      const db = openDatabase(join(dir, 'search.sqlite'))
      const random = new SeededRandom(3)
      const insert = db.prepare(`INSERT INTO patients (source, source_patient_id, sex) VALUES ('mimic-iv', ?, NULL)`)
      const patients: { id: number; sourceId: string }[] = []
      db.transaction(() => {
        // Source ids not in id order, a few with letters to exercise case-insensitive matching.
        for (let i = 0; i < 9000; i++) {
          const sourceId = `${1 + random.below(3)}${String(random.below(1_000_000)).padStart(6, '0')}${i % 97 === 0 ? 'Ab' : ''}-${i}`
          patients.push({ id: Number(insert.run(sourceId).lastInsertRowid), sourceId })
        }
      })()
      const expected = (search: string, offset: number, limit: number) => {
        const matches = patients.filter((p) => p.sourceId.toLowerCase().startsWith(search.toLowerCase()))
        return { ids: matches.slice(offset, offset + limit).map((p) => p.id), total: matches.length }
      }
      const cases: [string, number][] = [['1', 0], ['2', 2950], ['3', 100], ['', 40], ['15', 0], ['150', 0]]
      for (const sample of patients.slice(0, 40)) cases.push([sample.sourceId.slice(0, 1 + random.below(sample.sourceId.length)), 0])
      cases.push(['ab', 0], [patients[97]!.sourceId.toUpperCase(), 0], ['9', 0])
      let broad = 0
      for (const [search, offset] of cases) {
        const page = listPatients(db, { search, offset, limit: 50 })
        const want = search === '' ? { ids: patients.slice(offset, offset + 50).map((p) => p.id), total: patients.length } : expected(search, offset, 50)
        expect({ ids: page.patients.map((p) => p.id), total: page.total }, `search "${search}" offset ${offset}`).toEqual(want)
        if (want.total > 2000) broad++
      }
      expect(broad).toBeGreaterThanOrEqual(3) // both plans were exercised
      db.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
