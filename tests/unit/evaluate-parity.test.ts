// `medrec evaluate` against the training benchmark harness on the demo database: the same visits, the same
// per-visit Jaccard (to 1e-6) and the same aggregate metrics, with the harness's encoding and onnxruntime in
// Python (medrec_training.evaluation.visit_scores) against the app's encoding and onnxruntime-node; each visit's
// prescribed drugs as two_stage.py reads them; and no leakage: a visit's result, at class and drug level, does not
// change when the patient's later visits are deleted (on a copy).
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { evaluateDatabase, type EvaluationReport, type VisitScore } from '../../src/main/services/evaluate/evaluate'
import { inputUpTo, patientBatches } from '../../src/main/services/evaluate/stored-visits'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { modelsDir, resourcesDir } from '../../src/main/services/paths'
import { loadPatientInput } from '../../src/main/services/recommend/patient-input'
import { runTrainingPython } from './python'

const demo = join(resourcesDir(), 'demo.sqlite')
const ready = existsSync(demo) && existsSync(join(modelsDir(), 'logistic', 'manifest.json'))
if (!ready) console.warn('evaluate-parity.test: needs resources/demo.sqlite (npm run setup) and the shipped models; skipped')

interface HarnessResult {
  model: string
  visits: Array<{ visitId: number; patientId: number; jaccard: number; f1: number; recall: number; prauc: number }>
  summary: Record<string, number>
}

async function evaluateCopy(path: string, registry: ModelRegistry, modelIds: string[]): Promise<EvaluationReport> {
  const db = openDatabase(path, { readonly: true })
  try {
    return await evaluateDatabase({ db, databasePath: path, registry, knowledgeBasePath: null }, { modelIds, keepVisits: true, bootstrap: { replicates: 0 }, batchSize: 97 })
  } finally {
    db.close()
  }
}

describe.skipIf(!ready)('medrec evaluate on the demo database', () => {
  const registry = new ModelRegistry(modelsDir())
  let dir: string
  let copy: string
  let report: EvaluationReport

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-evaluate-'))
    copy = join(dir, 'demo.sqlite')
    copyFileSync(demo, copy)
    const { models } = await registry.scan()
    report = await evaluateCopy(copy, registry, models.map((m) => m.manifest.id))
  }, 240_000)

  afterAll(async () => {
    await registry.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('gives every shipped model the harness per-visit Jaccard and PRAUC on the same visits, and its aggregates', () => {
    const folders = report.models.map((m) => ['--model-dir', m.model.directory]).flat()
    const harness = JSON.parse(runTrainingPython(['-m', 'medrec_training.evaluation.visit_scores', '--database', copy, ...folders])) as HarnessResult[]
    expect(harness.map((h) => h.model)).toEqual(report.models.map((m) => m.model.id))
    expect(report.models.length).toBeGreaterThanOrEqual(1)
    report.models.forEach((evaluation, i) => {
      const expected = harness[i]!
      const ours = new Map((evaluation.visitScores ?? []).map((v) => [v.visitId, v]))
      expect(ours.size).toBe(expected.visits.length)
      expect(expected.visits.length).toBeGreaterThan(1000)
      let largest = 0
      for (const visit of expected.visits) {
        const mine = ours.get(visit.visitId)
        expect(mine, `visit ${visit.visitId} of ${evaluation.model.id}`).toBeDefined()
        expect(mine!.patientId).toBe(visit.patientId)
        for (const metric of ['jaccard', 'f1', 'recall', 'prauc'] as const) largest = Math.max(largest, Math.abs(mine![metric] - visit[metric]))
      }
      console.log(`evaluate parity ${evaluation.model.id}: ${expected.visits.length} visits, largest per-visit |difference| ${largest.toExponential(2)}`)
      expect(largest, `${evaluation.model.id}: largest per-visit difference`).toBeLessThanOrEqual(1e-6)
      const m = evaluation.summary.metrics
      expect(Math.abs(m.jaccard!.value - expected.summary.jaccard!)).toBeLessThanOrEqual(1e-6)
      expect(Math.abs(m.f1!.value - expected.summary.f1!)).toBeLessThanOrEqual(1e-6)
      expect(Math.abs(m.prauc!.value - expected.summary.prauc!)).toBeLessThanOrEqual(1e-6)
      expect(Math.abs(m.recall!.value - expected.summary.recall!)).toBeLessThanOrEqual(1e-6)
      expect(Math.abs(m.drugs!.value - expected.summary.meds!)).toBeLessThanOrEqual(1e-6)
      // ECE bins (p ≥ b/10) can differ for a probability a float32 ulp from a bin edge; 1e-5 leaves room for that.
      expect(Math.abs(m.ece!.value - expected.summary.ece!)).toBeLessThanOrEqual(1e-5)
      expect(evaluation.summary.patients).toBe(expected.summary.patients)
    })
  }, 240_000)

  it('reads each visit’s prescribed drugs (ATC5) as the two-stage evaluation does (two_stage.visit_drugs)', () => {
    const script = [
      'import json, sys',
      'from pathlib import Path',
      'from medrec_training.two_stage import visit_drugs',
      'visits, _ = visit_drugs(Path(sys.argv[1]))',
      'print(json.dumps({v: sorted(m for ms in d.members.values() for m in ms) for v, d in visits.items()}))'
    ].join('\n')
    const python = JSON.parse(runTrainingPython(['-c', script, copy])) as Record<string, string[]>
    for (const evaluation of report.models) {
      let compared = 0
      for (const visit of evaluation.visitScores ?? []) {
        const expected = python[String(visit.visitId)] ?? []
        if (expected.length === 0) expect(visit.drugLevel, `visit ${visit.visitId}`).toBeNull()
        else {
          expect(visit.drugLevel?.actual, `visit ${visit.visitId}`).toEqual(expected)
          compared++
        }
      }
      expect(compared).toBe(evaluation.drugLevel.visits.evaluated)
      expect(compared).toBeGreaterThan(1000)
    }
  }, 120_000)

  it("feeds a visit exactly the patient's earlier visits and its own codes, as a recommendation for that visit reads them", () => {
    const db = openDatabase(copy, { readonly: true })
    try {
      let checked = 0
      for (const batch of patientBatches(db, 50)) {
        for (const patient of batch.filter((p) => p.visits.length >= 2).slice(0, 5)) {
          const last = patient.visits.length - 1
          const stored = loadPatientInput(db, patient.id).visits
          const ours = inputUpTo(patient, last)
          expect(ours.slice(0, -1)).toEqual(stored.slice(0, -1))
          expect(ours.at(-1)).toEqual({ ...stored.at(-1)!, medications: [] })
          // An earlier visit's input is a prefix: nothing from the visits after it.
          expect(inputUpTo(patient, 0)).toEqual([{ ...stored[0]!, medications: [] }])
          checked++
        }
        if (checked >= 20) break
      }
      expect(checked).toBeGreaterThanOrEqual(20)
    } finally {
      db.close()
    }
  })

  it("does not change a visit's result when the patient's later visits are deleted, and does when an earlier one is", async () => {
    const logistic = report.models.find((m) => m.model.id === 'logistic') ?? report.models[0]!
    const before = new Map((logistic.visitScores ?? []).map((v) => [v.visitId, v]))
    // Patients with an evaluated visit that has an evaluated visit after it.
    const byPatient = new Map<number, VisitScore[]>()
    for (const v of logistic.visitScores ?? []) byPatient.set(v.patientId, [...(byPatient.get(v.patientId) ?? []), v])
    const chosen = [...byPatient.values()].filter((visits) => visits.length >= 2).slice(0, 40)
    expect(chosen.length).toBeGreaterThanOrEqual(20)

    const cut = join(dir, 'cut.sqlite')
    copyFileSync(copy, cut)
    const db: Db = openDatabase(cut)
    const kept: number[] = []
    const deleteVisit = db.prepare('DELETE FROM visits WHERE id = ?')
    const order = db.prepare('SELECT id FROM visits WHERE patient_id = ? ORDER BY sort_key, id')
    db.transaction(() => {
      for (const visits of chosen) {
        const all = (order.all(visits[0]!.patientId) as Array<{ id: number }>).map((r) => r.id)
        const keep = all.indexOf(visits[0]!.visitId)
        kept.push(visits[0]!.visitId)
        for (const id of all.slice(keep + 1)) deleteVisit.run(id)
      }
    })()
    db.close()
    const after = await evaluateCopy(cut, registry, [logistic.model.id])
    const afterScores = new Map((after.models[0]!.visitScores ?? []).map((v) => [v.visitId, v]))
    for (const id of kept) {
      const a = afterScores.get(id)
      expect(a, `visit ${id} still evaluated`).toBeDefined()
      expect(a).toEqual(before.get(id))
    }

    // Control: deleting the first visit of patients whose second evaluated visit has history changes results.
    const control = join(dir, 'control.sqlite')
    copyFileSync(copy, control)
    const cdb = openDatabase(control)
    const second = chosen.map((visits) => visits[1]!)
    cdb.transaction(() => {
      const del = cdb.prepare('DELETE FROM visits WHERE id = ?')
      for (const visits of chosen) del.run(visits[0]!.visitId)
    })()
    cdb.close()
    const controlReport = await evaluateCopy(control, registry, [logistic.model.id])
    const controlScores = new Map((controlReport.models[0]!.visitScores ?? []).map((v) => [v.visitId, v]))
    const changed = second.filter((v) => JSON.stringify(controlScores.get(v.visitId)) !== JSON.stringify(before.get(v.visitId)))
    expect(changed.length).toBeGreaterThan(0)
  }, 240_000)
})
