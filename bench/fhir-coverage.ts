// How much of a FHIR patient each shipped model can see. Imports the Synthea R4 sample (SNOMED CT
// conditions and procedures, RxNorm drugs mapped to ATC) into a temporary database, then counts, per
// patient, the share of its distinct codes that reach each model in models/: a diagnosis or procedure
// reaches a model when it is in the model's vocabulary, or, for a model shipping a cold-start graph
// (NLA-MMR: model_cold_start.onnx), when it has a title (it then counts through its title's text); a
// medication reaches it when its ATC3 class is a model input. Synthetic data: interoperability
// figures only, never model quality.
//
//   npm run bench:fhir-coverage [-- --input <FHIR folder or file>] [--csv per-patient.csv]
// --csv writes each patient's shares per model (one row per patient and model).
import type { ModelManifest } from '../src/shared/domain/manifest'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { openDatabase } from '../src/main/services/db/database'
import { importFhir } from '../src/main/services/imports/fhir'
import { UNKNOWN_INDEX, vocabulariesOf } from '../src/main/services/inference/vocabulary'
import { dataDir, modelsDir } from '../src/main/services/paths'
import { codeText } from '../src/main/services/inference/text/cold-start'

const { values } = parseArgs({ options: { input: { type: 'string' }, csv: { type: 'string' } } })
const input = values.input ?? join(dataDir(), 'ehr', 'synthea-r4-sample', 'bundles')

interface PatientCodes {
  diagnosis: Array<{ system: string; code: string; title: string | null }>
  procedure: Array<{ system: string; code: string; title: string | null }>
  medication: Array<string | null>
}

const work = mkdtempSync(join(tmpdir(), 'medrec-fhir-coverage-'))
try {
  const db = openDatabase(join(work, 'fhir.sqlite'))
  const report = await importFhir(db, { input })
  console.log(`FHIR coverage: ${report.patients} patients, ${report.diagnosisCodes} diagnoses, ${report.procedureCodes} procedures, ${report.medicationResources} medication resources from ${input}`)
  const patients = new Map<number, PatientCodes>()
  const of = (id: number): PatientCodes => {
    let p = patients.get(id)
    if (!p) patients.set(id, (p = { diagnosis: [], procedure: [], medication: [] }))
    return p
  }
  for (const kind of ['diagnosis', 'procedure'] as const) {
    const table = kind === 'diagnosis' ? 'diagnoses' : 'procedures'
    const rows = db
      .prepare(
        `SELECT DISTINCT v.patient_id AS patient, c.code_system AS system, c.code, t.title FROM ${table} c JOIN visits v ON v.id = c.visit_id
         LEFT JOIN code_titles t ON t.kind = '${kind}' AND t.code_system = c.code_system AND t.code = c.code`
      )
      .all() as Array<{ patient: number; system: string; code: string; title: string | null }>
    for (const row of rows) of(row.patient)[kind].push(row)
  }
  const meds = db
    .prepare(`SELECT DISTINCT v.patient_id AS patient, coalesce(m.atc3, 'unmapped:' || m.raw_name) AS atc3, m.atc3 IS NULL AS unmapped FROM medications m JOIN visits v ON v.id = m.visit_id`)
    .all() as Array<{ patient: number; atc3: string; unmapped: number }>
  for (const row of meds) of(row.patient).medication.push(row.unmapped ? null : row.atc3)
  db.close()

  // Model folders only: models/drug-choice holds the within-class drug choice, an artefact with its own
  // manifest and no code vocabularies (it sees what the class model sees).
  const folders = readdirSync(modelsDir())
    .filter((f) => existsSync(join(modelsDir(), f, 'manifest.json')))
    .filter((f) => 'vocabularies' in (JSON.parse(readFileSync(join(modelsDir(), f, 'manifest.json'), 'utf8')) as object))
    .sort()
  const csvRows: string[] = ['model,patient,diagnoses,procedures,medications,diagnosis_share,procedure_share,medication_share,all_share']
  console.log(`\n${patients.size} patients with at least one code. Share of each patient's distinct codes reaching the model (mean over patients; median in brackets):`)
  console.log(
    `${'model'.padEnd(10)} ${'cold start'.padEnd(10)} ${'diagnoses'.padStart(16)} ${'procedures'.padStart(16)} ${'medications'.padStart(16)} ${'all codes'.padStart(16)} ${'patients at 0%'.padStart(15)} ${'at 100%'.padStart(8)}`
  )
  for (const folder of folders) {
    const manifest = JSON.parse(readFileSync(join(modelsDir(), folder, 'manifest.json'), 'utf8')) as ModelManifest
    const vocab = vocabulariesOf(manifest)
    const coldStart = existsSync(join(modelsDir(), folder, 'model_cold_start.onnx'))
    const shares: Record<'diagnosis' | 'procedure' | 'medication' | 'all', number[]> = { diagnosis: [], procedure: [], medication: [], all: [] }
    for (const [patient, codes] of patients) {
      let reached = 0
      let total = 0
      const row: number[] = []
      for (const kind of ['diagnosis', 'procedure'] as const) {
        const list = codes[kind]
        const hit = list.filter((c) => vocab[kind].indexOf(c.system, c.code) !== UNKNOWN_INDEX || (coldStart && codeText(c.title) !== null)).length
        if (list.length) shares[kind].push(hit / list.length)
        row.push(list.length ? hit / list.length : NaN)
        reached += hit
        total += list.length
      }
      const medHit = codes.medication.filter((c) => c !== null && vocab.medication.indexOf(null, c) !== UNKNOWN_INDEX).length
      if (codes.medication.length) shares.medication.push(medHit / codes.medication.length)
      reached += medHit
      total += codes.medication.length
      if (total) shares.all.push(reached / total)
      const share = (v: number): string => (Number.isNaN(v) ? '' : v.toFixed(4))
      csvRows.push(
        [manifest.id, patient, codes.diagnosis.length, codes.procedure.length, codes.medication.length, share(row[0]!), share(row[1]!), share(codes.medication.length ? medHit / codes.medication.length : NaN), share(total ? reached / total : NaN)].join(',')
      )
    }
    const cell = (values: number[]): string => {
      if (values.length === 0) return '–'.padStart(16)
      const sorted = [...values].sort((a, b) => a - b)
      const mean = values.reduce((s, v) => s + v, 0) / values.length
      return `${(100 * mean).toFixed(1)}% (${(100 * sorted[Math.floor(sorted.length / 2)]!).toFixed(0)}%)`.padStart(16)
    }
    console.log(
      `${manifest.id.padEnd(10)} ${(coldStart ? 'yes' : 'no').padEnd(10)} ${cell(shares.diagnosis)} ${cell(shares.procedure)} ${cell(shares.medication)} ${cell(shares.all)} ` +
        `${String(shares.all.filter((v) => v === 0).length).padStart(15)} ${String(shares.all.filter((v) => v === 1).length).padStart(8)}`
    )
  }
  if (values.csv) {
    writeFileSync(values.csv, `${csvRows.join('\n')}\n`)
    console.log(`\nPer-patient shares: ${values.csv}`)
  }
  console.log('\nA medication counts only when mapped to an ATC3 class the model takes as input; unmapped names never reach a model.')
} finally {
  rmSync(work, { recursive: true, force: true })
}
