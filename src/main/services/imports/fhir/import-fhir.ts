// FHIR R4 import: transaction/collection bundles and Bulk Data NDJSON into the patient store, with the
// guarantees of the CSV importers (importers/import-dataset.ts), whose store and transaction code it uses:
// - All or nothing: written to a staging file and applied in one short transaction (imports/staging.ts). Malformed JSON, a wrong resourceType for a bundle file or a
//   truncated gzip stop the import with the file and line, and the store is left exactly as it was.
// - Resource-level problems (a MedicationRequest whose patient or encounter is neither in this import nor
//   in the store, a Condition without a code) reject that resource with file, line or entry, and reason.
// - Idempotent: an unchanged input (sha256 over files, reference tables and importer version) is recorded
//   as 'skipped-unchanged'; changed input re-imports as upserts (visits keep ids, their codes and
//   medications are replaced wholesale; allergies are upserted by id).
// Order matters for references: NDJSON files are read Patient, then Encounter, then Medication, then
// the rest (Bulk Data writes one type per file); a bundle's entries are read in the same order.
import type { FhirImportReport, FhirRejectedResource } from '../../../../shared/domain/imports'
import type { ImportPlan } from '../../../../shared/domain/imports'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Db } from '../../db/database'
import { MappingTally, SAMPLE_LIMIT } from '../context'
import { ImportError } from '../errors'
import { fingerprintFiles } from '../fingerprint'
import { DEFAULT_MAX_REJECTED_SHARE, ImportRefusedError } from '../safety'
import { ImportStaging } from '../staging'
import { ImportStore, type DrugInput } from '../store'
import { dataDir as defaultDataDir, defaultKnowledgeBasePath } from '../../paths'
import { loadReferenceData } from '../../drugs/reference-data'
import { createDrugResolver, curatedNamesPath, rxnormTablePath } from '../../drugs/load'
import { applyOverrides, listOverrides } from '../../drugs/overrides'
import type { DrugResolver } from '../../drugs/resolver'
import { ageAt, parseBirthDate, type BirthDate, type VisitAge } from '../age'
import { fhirDrugInput, mapFhirDrug } from './drug-mapping'
import { firstResourceType, listFhirFiles, readBundle, readNdjson, type FhirFile } from './read'
import { conceptText, firstCode, isObject, preferredCode, referenceKey, startOf, type Json } from './resources'

/**
 * Bump when the output for the same input changes, so unchanged files re-import.
 * 4: encounters carry the age at their start, from Patient.birthDate.
 */
export const FHIR_IMPORTER_VERSION = 4

export interface FhirImportOptions {
  /** A folder (searched recursively) or one file. */
  input: string
  dataDir?: string
  force?: boolean
  /** The same safety as the CSV importers (import-dataset.ts): refuse altering stored rows unless `replace`. */
  replace?: boolean
  /** Run every check and compute the plan, write nothing: status 'dry-run' with the plan. */
  dryRun?: boolean
  /** Largest share of the resources read that may be rejected (default 0.01). */
  maxRejectedShare?: number
  /** Called with the plan just before a replacing import commits (the CLI prints it). */
  onPlan?: (plan: ImportPlan) => void
  onProgress?: (progress: { file: string; resources: number }) => void
}

const RANK: Record<string, number> = { Patient: 0, Encounter: 1, Medication: 2 }
const rankOf = (type: string | null): number => (type === null ? 3 : (RANK[type] ?? 3))
const MEDICATION_TYPES = new Set(['MedicationRequest', 'MedicationStatement', 'MedicationAdministration'])
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/

interface Where {
  file: string
  line: number | null
  entry: number | null
}

interface VisitRef {
  visitId: number
  patientKey: string
  diagnosisSeq: number
  procedureSeq: number
}

class Rejection extends Error {}

/** One import run: reference maps (patients, encounters, medications by "Type/id") and counts. */
class FhirImport {
  readonly store: ImportStore
  readonly tally = new MappingTally()
  readonly resourcesRead: Record<string, number> = {}
  readonly skippedTypes: Record<string, number> = {}
  readonly skipped: Record<string, number> = {}
  readonly rejectedSamples: FhirRejectedResource[] = []
  rejected = 0
  allergies = 0
  medicationResources = 0
  bundles = 0
  ndjson = 0
  private readonly patients = new Map<string, number>()
  /** "Patient/id" → birth date, for the age at each encounter; only this import's Patients (none is stored). */
  private readonly births = new Map<string, BirthDate | null>()
  private readonly encounters = new Map<string, VisitRef>()
  private readonly medications = new Map<string, DrugInput>()
  private readonly storedPatient
  private readonly storedVisit
  private readonly visitSeqs
  private readonly upsertAllergy

  constructor(
    private readonly db: Db,
    readonly runId: number,
    private readonly resolver: DrugResolver,
    /** The patient database itself: the staging file holds its visits but not their codes. */
    live: Db
  ) {
    this.store = new ImportStore(db, 'fhir', runId)
    this.storedPatient = db.prepare(`SELECT id FROM patients WHERE source = 'fhir' AND source_patient_id = ?`).pluck()
    this.storedVisit = db.prepare(
      `SELECT v.id AS visitId, p.source_patient_id AS patient FROM visits v JOIN patients p ON p.id = v.patient_id WHERE v.source = 'fhir' AND v.source_visit_id = ?`
    )
    // Codes added to a stored visit (an incremental export) continue its sequence: read from the live
    // database, whose codes the staging file does not copy (it would restart at 0 and collide).
    this.visitSeqs = live.prepare(
      `SELECT (SELECT coalesce(max(seq) + 1, 0) FROM diagnoses WHERE visit_id = ?) AS d, (SELECT coalesce(max(seq) + 1, 0) FROM procedures WHERE visit_id = ?) AS p`
    )
    this.upsertAllergy = db.prepare(
      `INSERT INTO allergies (patient_id, source, source_allergy_id, code_system, code, title, category, criticality, clinical_status, recorded_at, import_run_id)
       VALUES (?, 'fhir', ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (source, source_allergy_id) DO UPDATE SET patient_id = excluded.patient_id, code_system = excluded.code_system,
         code = excluded.code, title = excluded.title, category = excluded.category, criticality = excluded.criticality,
         clinical_status = excluded.clinical_status, recorded_at = excluded.recorded_at, import_run_id = excluded.import_run_id`
    )
  }

  /**
   * One bundle file, in two passes over all bundle files (importFhir): 'references' stores its Patient,
   * Encounter and Medication entries, 'rest' everything else. So a Condition or medication finds its
   * Encounter whichever file holds it, and an Encounter re-exported in a later file never replaces codes
   * this import already added to its visit.
   */
  async bundle(file: FhirFile, pass: 'references' | 'rest'): Promise<void> {
    if (pass === 'references') this.bundles++
    const bundle = await readBundle(file)
    const entries = (bundle.entry as unknown[] | undefined) ?? []
    const fullUrls = new Map<string, string>()
    for (const entry of entries) {
      if (!isObject(entry) || !isObject(entry.resource) || typeof entry.fullUrl !== 'string') continue
      const { resourceType, id } = entry.resource
      if (typeof resourceType === 'string' && typeof id === 'string') fullUrls.set(entry.fullUrl, `${resourceType}/${id}`)
    }
    const ordered = entries
      .map((entry, index) => ({ entry, index, rank: isObject(entry) && isObject(entry.resource) ? rankOf(String(entry.resource.resourceType)) : 3 }))
      .filter(({ rank }) => (pass === 'references' ? rank < 3 : rank === 3))
      .sort((a, b) => a.rank - b.rank || a.index - b.index)
    for (const { entry, index } of ordered) {
      const where = { file: file.displayName, line: null, entry: index + 1 }
      if (!isObject(entry) || !isObject(entry.resource)) {
        this.reject(where, null, 'bundle entry without a resource')
        continue
      }
      this.resource(entry.resource, where, fullUrls)
    }
  }

  async ndjsonFile(file: FhirFile): Promise<void> {
    this.ndjson++
    let count = 0
    for await (const { value, line } of readNdjson(file)) {
      const where = { file: file.displayName, line, entry: null }
      if (!isObject(value)) this.reject(where, null, `expected one FHIR resource (a JSON object) per line, found ${Array.isArray(value) ? 'an array' : typeof value}`)
      else this.resource(value, where, null)
      if (++count % 50_000 === 0) this.onProgress?.({ file: file.displayName, resources: count })
    }
  }

  onProgress: FhirImportOptions['onProgress']

  private resource(resource: Json, where: Where, fullUrls: ReadonlyMap<string, string> | null): void {
    const type = resource.resourceType
    if (typeof type !== 'string' || !RESOURCE_TYPE.test(type)) {
      this.reject(where, null, type === undefined ? 'no resourceType' : `resourceType ${JSON.stringify(type)} is not a FHIR resource type name`)
      return
    }
    this.resourcesRead[type] = (this.resourcesRead[type] ?? 0) + 1
    const id = typeof resource.id === 'string' && resource.id !== '' ? resource.id : null
    const label = id ? `${type}/${id}` : type
    try {
      switch (type) {
        case 'Patient':
          return this.patient(resource, id)
        case 'Encounter':
          return this.encounter(resource, id, fullUrls)
        case 'Medication':
          return this.medication(resource, id)
        case 'Condition':
        case 'Procedure':
          return this.code(resource, type, fullUrls)
        case 'AllergyIntolerance':
          return this.allergy(resource, id, fullUrls)
        default:
          if (MEDICATION_TYPES.has(type)) return this.medicationUse(resource, type, fullUrls)
          this.skippedTypes[type] = (this.skippedTypes[type] ?? 0) + 1
      }
    } catch (error) {
      if (error instanceof Rejection) this.reject(where, label, error.message)
      else throw error
    }
  }

  private reject(where: Where, resource: string | null, reason: string): void {
    this.rejected++
    if (this.rejectedSamples.length < SAMPLE_LIMIT) this.rejectedSamples.push({ ...where, resource, reason })
  }

  private skip(reason: string): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1
  }

  private patient(resource: Json, id: string | null): void {
    if (!id) throw new Rejection('Patient without an id')
    const gender = resource.gender
    const sex = gender === 'female' ? 'F' : gender === 'male' ? 'M' : gender === 'other' ? 'O' : null
    let birth: BirthDate | null = null
    if (resource.birthDate !== undefined) {
      birth = typeof resource.birthDate === 'string' ? parseBirthDate(resource.birthDate) : null
      if (!birth) throw new Rejection(`Patient.birthDate ${JSON.stringify(resource.birthDate)} is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)`)
    }
    this.patients.set(`Patient/${id}`, this.store.patient(id, sex))
    this.births.set(`Patient/${id}`, birth)
  }

  /** The stored patient id of a subject reference: this import's, else one imported before. */
  private patientOf(reference: unknown, fullUrls: ReadonlyMap<string, string> | null, field: string): { key: string; id: number } {
    const key = referenceKey(reference, fullUrls)
    if (key === null) throw new Rejection(`no ${field} reference`)
    if (!key.startsWith('Patient/')) throw new Rejection(`${field} ${key} is not a Patient`)
    let id = this.patients.get(key)
    if (id === undefined) {
      id = this.storedPatient.get(key.slice('Patient/'.length)) as number | undefined
      if (id === undefined) throw new Rejection(`${field} ${key} is neither in this import nor in the database`)
      this.patients.set(key, id)
    }
    return { key, id }
  }

  private encounter(resource: Json, id: string | null, fullUrls: ReadonlyMap<string, string> | null): void {
    if (!id) throw new Rejection('Encounter without an id')
    const key = `Encounter/${id}`
    if (this.encounters.has(key)) throw new Rejection(`duplicate ${key} in this import (the first one was kept)`)
    const patient = this.patientOf(resource.subject, fullUrls, 'subject')
    // A visit never moves between patients (as in the CSV importers): rejected, not a failed import.
    const owner = this.store.storedForAnotherPatient(id, patient.id)
    if (owner !== null) throw new Rejection(`${key} is stored for Patient/${owner}, not ${patient.key}; an import never moves visits between patients`)
    const period = isObject(resource.period) ? resource.period : {}
    const start = startOf(period)
    if (!start) throw new Rejection('Encounter.period.start is missing or not a valid dateTime (visits are ordered by it)')
    const end = startOf(period.end)
    const classCode = isObject(resource.class) && typeof resource.class.code === 'string' ? ` ${resource.class.code}` : ''
    const visitId = this.store.visit({
      patientId: patient.id,
      sourceVisitId: id,
      admitTime: start,
      dischargeTime: end,
      sortKey: start,
      orderLabel: `${start.slice(0, 16).replace('T', ' ')}${classCode}`,
      // birthDate is a calendar date where the patient lives: compare it with the encounter's own local date, not
      // its UTC time (an encounter at 01:00+02:00 on the birthday is not the day before birth).
      age: this.ageOf(patient.key, typeof period.start === 'string' && /^\d{4}-\d{2}-\d{2}/.test(period.start) ? period.start.slice(0, 10) : start)
    })
    this.encounters.set(key, { visitId, patientKey: patient.key, diagnosisSeq: 0, procedureSeq: 0 })
  }

  /** The age at an encounter's start; a patient imported before keeps the age stored for a re-sent encounter. */
  private ageOf(patientKey: string, start: string): VisitAge {
    const birth = this.births.get(patientKey)
    if (birth === undefined) return { age: null, unknown: 'the Patient is not in this import (MedRec keeps no birth date)' }
    if (birth === null) return { age: null, unknown: 'Patient without birthDate' }
    return ageAt(birth, start)
  }

  /** The visit of an encounter reference, which must belong to `patientKey`. */
  private visitOf(reference: unknown, fullUrls: ReadonlyMap<string, string> | null, field: string, patientKey: string): VisitRef {
    const key = referenceKey(reference, fullUrls)
    if (key === null) throw new Rejection(`no ${field} reference (MedRec keeps codes and medications per visit)`)
    let visit = this.encounters.get(key)
    if (visit === undefined && key.startsWith('Encounter/')) {
      const row = this.storedVisit.get(key.slice('Encounter/'.length)) as { visitId: number; patient: string } | undefined
      if (row) {
        const seqs = this.visitSeqs.get(row.visitId, row.visitId) as { d: number; p: number }
        visit = { visitId: row.visitId, patientKey: `Patient/${row.patient}`, diagnosisSeq: seqs.d, procedureSeq: seqs.p }
        this.encounters.set(key, visit)
      }
    }
    if (visit === undefined) throw new Rejection(`${field} ${key} is neither in this import nor in the database`)
    if (visit.patientKey !== patientKey) throw new Rejection(`${field} ${key} belongs to ${visit.patientKey}, not to ${patientKey}`)
    return visit
  }

  private code(resource: Json, type: 'Condition' | 'Procedure', fullUrls: ReadonlyMap<string, string> | null): void {
    const verification = firstCode(resource.verificationStatus)
    if (resource.status === 'entered-in-error' || verification === 'entered-in-error' || verification === 'refuted') {
      this.skip(`${type} entered in error or refuted`)
      return
    }
    const patient = this.patientOf(resource.subject, fullUrls, 'subject')
    const visit = this.visitOf(resource.encounter, fullUrls, 'encounter', patient.key)
    const code = preferredCode(resource.code)
    if (!code) throw new Rejection(`${type}.code has no coding with a code`)
    const kind = type === 'Condition' ? 'diagnosis' : 'procedure'
    if (kind === 'diagnosis') this.store.diagnosis(visit.visitId, visit.diagnosisSeq++, code.system, code.code)
    else this.store.procedure(visit.visitId, visit.procedureSeq++, code.system, code.code)
    if (code.title) this.store.title(kind, code.system, code.code, code.title, false)
  }

  private drugOf(concept: unknown): DrugInput | null {
    return fhirDrugInput(concept)
  }

  private medication(resource: Json, id: string | null): void {
    if (!id) throw new Rejection('Medication without an id (nothing can refer to it)')
    const drug = this.drugOf(resource.code)
    if (!drug) throw new Rejection('Medication.code has neither text nor a coding')
    this.medications.set(`Medication/${id}`, drug)
  }

  private medicationUse(resource: Json, type: string, fullUrls: ReadonlyMap<string, string> | null): void {
    if (resource.status === 'entered-in-error') {
      this.skip(`${type} entered in error`)
      return
    }
    const patient = this.patientOf(resource.subject, fullUrls, 'subject')
    const encounterField = type === 'MedicationRequest' ? 'encounter' : 'context'
    const visit = this.visitOf(resource[encounterField], fullUrls, encounterField, patient.key)
    let drug: DrugInput | null
    if (resource.medicationCodeableConcept !== undefined) {
      drug = this.drugOf(resource.medicationCodeableConcept)
      if (!drug) throw new Rejection('medicationCodeableConcept has neither text nor a coding')
    } else {
      const key = referenceKey(resource.medicationReference, fullUrls)
      if (key === null) throw new Rejection('neither medicationCodeableConcept nor medicationReference')
      if (key.startsWith('#')) {
        const contained = Array.isArray(resource.contained) ? resource.contained.find((c) => isObject(c) && c.id === key.slice(1)) : undefined
        drug = isObject(contained) ? this.drugOf(contained.code) : null
        if (!drug) throw new Rejection(`medicationReference ${key}: no contained Medication with a code`)
      } else {
        drug = this.medications.get(key) ?? null
        if (!drug) throw new Rejection(`medicationReference ${key} is not a Medication in this import`)
      }
    }
    const time = startOf(resource.authoredOn, resource.effectiveDateTime, resource.effectivePeriod, resource.dateAsserted)
    this.tally.count(this.store.medication(visit.visitId, drug, time, (d) => mapFhirDrug(this.resolver, d)))
    this.medicationResources++
  }

  private allergy(resource: Json, id: string | null, fullUrls: ReadonlyMap<string, string> | null): void {
    if (!id) throw new Rejection('AllergyIntolerance without an id')
    if (firstCode(resource.verificationStatus) === 'entered-in-error') {
      this.skip('AllergyIntolerance entered in error')
      return
    }
    const patient = this.patientOf(resource.patient, fullUrls, 'patient')
    const code = preferredCode(resource.code)
    const title = code?.title ?? conceptText(resource.code)
    if (!title && !code) throw new Rejection('AllergyIntolerance.code has neither a coding nor text')
    const category = Array.isArray(resource.category) ? resource.category.filter((c) => typeof c === 'string').join(',') || null : null
    this.upsertAllergy.run(
      patient.id,
      id,
      code?.system ?? null,
      code?.code ?? null,
      title ?? code!.code,
      category,
      typeof resource.criticality === 'string' ? resource.criticality : null,
      firstCode(resource.clinicalStatus),
      startOf(resource.recordedDate, resource.onsetDateTime),
      this.runId
    )
    this.allergies++
  }
}

export async function importFhir(db: Db, options: FhirImportOptions): Promise<FhirImportReport> {
  const started = performance.now()
  const input = resolve(options.input)
  const files = listFhirFiles(input)
  const dataDir = resolve(options.dataDir ?? defaultDataDir())
  const reference = await loadReferenceData(dataDir)
  // Drugs go through the one drug resolver, with this database's local overrides, as in the CSV importers.
  const kbPath = defaultKnowledgeBasePath()
  const resolver = createDrugResolver({ dataDir, kbPath: existsSync(kbPath) ? kbPath : null })
  applyOverrides(resolver, db)
  const overrides = JSON.stringify(listOverrides(db).map((o) => [o.rawKey, o.target]))
  const fingerprint = await fingerprintInputs(files, [...reference.files, curatedNamesPath(), rxnormTablePath()], overrides)
  const previous = db
    .prepare(`SELECT id, report_json FROM import_runs WHERE format = 'fhir' AND input_fingerprint = ? AND status = 'completed' ORDER BY id DESC LIMIT 1`)
    .get(fingerprint) as { id: number; report_json: string } | undefined
  const maxRejectedShare = options.maxRejectedShare ?? DEFAULT_MAX_REJECTED_SHARE
  if (!(maxRejectedShare >= 0 && maxRejectedShare <= 1)) throw new ImportError(`maxRejectedShare must be between 0 and 1, got ${maxRejectedShare}.`)
  if (previous && !options.force) {
    if (options.dryRun) return { ...(JSON.parse(previous.report_json) as FhirImportReport), status: 'skipped-unchanged', previousRunId: previous.id }
    return recordSkippedRun(db, input, fingerprint, previous, started)
  }
  if (db.inTransaction) throw new ImportError('Another write is in progress on this database connection; run the import on its own connection.')

  // Patients, encounters and Medication resources first (see the header), across bundle files too.
  const ranked = await Promise.all(files.map(async (file) => ({ file, rank: file.kind === 'bundle' ? 1.5 : rankOf(await firstResourceType(file)) })))
  const ordered = ranked.sort((a, b) => a.rank - b.rank).map((r) => r.file)

  // Written to a staging file first and applied in one short transaction, as the CSV importers do.
  const staging = ImportStaging.open(db, 'fhir')
  const stage = staging.db
  stage.pragma('cache_size = -131072')
  try {
    stage.exec('BEGIN')
    const runId = Number(
      stage
        .prepare(`INSERT INTO import_runs (format, source_dir, input_fingerprint, started_at, status, report_json) VALUES ('fhir', ?, ?, ?, 'completed', '{}')`)
        .run(input, fingerprint, new Date().toISOString()).lastInsertRowid
    )
    const run = new FhirImport(stage, runId, resolver, db)
    run.store.atcNames(reference.atcNames)
    run.onProgress = options.onProgress
    // NDJSON Patient, Encounter and Medication files; then those entries of every bundle file; then the
    // rest of every bundle file; then the other NDJSON files.
    const bundles = ordered.filter((f) => f.kind === 'bundle')
    const ndjson = ranked.filter((r) => r.file.kind !== 'bundle')
    const steps: Array<{ file: FhirFile; read: () => Promise<void> }> = [
      ...ndjson.filter((r) => r.rank < 3).map((r) => ({ file: r.file, read: () => run.ndjsonFile(r.file) })),
      ...bundles.map((file) => ({ file, read: () => run.bundle(file, 'references') })),
      ...bundles.map((file) => ({ file, read: () => run.bundle(file, 'rest') })),
      ...ndjson.filter((r) => r.rank >= 3).map((r) => ({ file: r.file, read: () => run.ndjsonFile(r.file) }))
    ]
    for (const step of steps) {
      options.onProgress?.({ file: step.file.displayName, resources: 0 })
      await step.read()
    }
    const counts = run.store.counts
    const { mappedBy } = run.tally
    const report: FhirImportReport = {
      runId,
      format: 'fhir',
      source: input,
      status: 'completed',
      previousRunId: null,
      files: { bundles: run.bundles, ndjson: run.ndjson },
      resourcesRead: run.resourcesRead,
      patients: run.store.patients,
      visits: run.store.visits,
      diagnosisCodes: counts.diagnoses,
      procedureCodes: counts.procedures,
      medicationResources: run.medicationResources,
      storedMedicationRows: counts.storedMedicationRows,
      mappedDrugs: mappedBy.ndc + mappedBy.gsn + mappedBy.name,
      unmappedDrugs: mappedBy.unmapped,
      mappedBy: { ...mappedBy },
      allergies: run.allergies,
      skippedTypes: run.skippedTypes,
      skipped: {
        ...run.skipped,
        ...(counts.repeatedDiagnoses ? { 'diagnosis code repeated within the same visit': counts.repeatedDiagnoses } : {}),
        ...(counts.repeatedProcedures ? { 'procedure code repeated within the same visit': counts.repeatedProcedures } : {})
      },
      rejected: run.rejected,
      rejectedSamples: run.rejectedSamples,
      durationMs: Math.round(performance.now() - started),
      inputFingerprint: fingerprint,
      ages: run.store.ages
    }
    run.store.finish()
    const read = Object.values(run.resourcesRead).reduce((sum, n) => sum + n, 0)
    if (read > 0 && run.rejected / read > maxRejectedShare) {
      const first = run.rejectedSamples.slice(0, 3).map((r) => `${r.file} ${r.line !== null ? `line ${r.line}` : `entry ${r.entry}`}: ${r.reason}`)
      throw new ImportError(
        `${input}: ${run.rejected} of ${read} resources rejected (${((100 * run.rejected) / read).toFixed(1)}%), above the limit of ` +
          `${+(maxRejectedShare * 100).toFixed(4)}% (--max-rejected). Nothing was changed.` +
          (first.length ? ` First: ${first.join('; ')}.` : ''),
        input
      )
    }
    stage.exec('COMMIT')
    const plan = staging.plan(runId)
    report.plan = plan
    if (options.dryRun) return { ...report, status: 'dry-run', runId: 0 }
    if (plan.destructive && !options.replace) throw new ImportRefusedError(plan)
    if (plan.destructive) options.onPlan?.(plan)
    stage.prepare(`UPDATE import_runs SET finished_at = ?, report_json = ? WHERE id = ?`).run(new Date().toISOString(), JSON.stringify(report), runId)
    staging.apply(runId)
    return report
  } finally {
    if (stage.inTransaction) stage.exec('ROLLBACK')
    staging.close()
  }
}

function recordSkippedRun(db: Db, input: string, fingerprint: string, previous: { id: number; report_json: string }, started: number): FhirImportReport {
  const now = new Date().toISOString()
  const runId = Number(
    db
      .prepare(`INSERT INTO import_runs (format, source_dir, input_fingerprint, started_at, finished_at, status, report_json) VALUES ('fhir', ?, ?, ?, ?, 'skipped-unchanged', '{}')`)
      .run(input, fingerprint, now, now).lastInsertRowid
  )
  const report: FhirImportReport = {
    ...(JSON.parse(previous.report_json) as FhirImportReport),
    runId,
    source: input,
    status: 'skipped-unchanged',
    previousRunId: previous.id,
    durationMs: Math.round(performance.now() - started)
  }
  db.prepare(`UPDATE import_runs SET report_json = ? WHERE id = ?`).run(JSON.stringify(report), runId)
  return report
}

/** sha256 over the importer version, each input file's name, size and bytes, then the reference tables. */
function fingerprintInputs(files: FhirFile[], referenceFiles: string[], overrides = ''): Promise<string> {
  return fingerprintFiles(`medrec-fhir-importer ${FHIR_IMPORTER_VERSION}`, files.map((f) => ({ label: f.displayName, path: f.path })), referenceFiles, overrides)
}
