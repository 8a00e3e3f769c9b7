// The evaluation API (evaluate:start / evaluate:status) through the validated dispatcher the app and the
// e2e host use, on a copy of the demo database: arguments are checked, the job reports progress and ends
// with the same figures as the service, a second start while one runs is refused, an unknown job is named.
import type { EvaluationJobStatus } from '../../src/shared/domain/evaluation'
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApi } from '../../src/main/api/handlers'
import type { ApiDispatcher } from '../../src/main/api/dispatcher'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { evaluateDatabase } from '../../src/main/services/evaluate/evaluate'
import { progressFraction } from '../../src/main/services/evaluate/jobs'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { modelsDir, resourcesDir, defaultKnowledgeBasePath } from '../../src/main/services/paths'
import { MedrecServices } from '../../src/main/services/open-services'

const demo = join(resourcesDir(), 'demo.sqlite')
const ready = existsSync(demo) && existsSync(join(modelsDir(), 'logistic', 'manifest.json'))

describe('evaluate progress fraction', () => {
  it('runs from 0 to 1 over the models, scoring taking most of each model’s share', () => {
    const at = (modelIndex: number, phase: 'counting' | 'scoring' | 'summarising' | 'done', patientsDone = 0) =>
      progressFraction({ modelId: 'm', modelIndex, modelCount: 2, phase, patientsDone, patientsTotal: 100 })
    expect(at(0, 'counting')).toBe(0)
    expect(at(0, 'scoring', 50)).toBeCloseTo(0.2375, 12)
    expect(at(1, 'summarising')).toBeCloseTo(0.95, 12)
    expect(at(1, 'done')).toBe(1)
  })
})

describe.skipIf(!ready)('evaluate API', () => {
  let dir: string
  let db: Db
  let api: ApiDispatcher
  let databasePath: string

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-evaluate-api-'))
    databasePath = join(dir, 'demo.sqlite')
    copyFileSync(demo, databasePath)
    db = openDatabase(databasePath)
    api = createApi({ db, databasePath, appVersion: 'test', services: new MedrecServices(db) }, { onInternalError: () => {} })
  })

  afterAll(() => {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('refuses bad arguments naming the field', async () => {
    const bad = await api.dispatch('evaluate:start', [{ modelIds: ['logistic'], since: '03/12/2026', replicates: 10 }])
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid' } })
    expect(!bad.ok && bad.error.message).toContain('argument 1 (since)')
    const negative = await api.dispatch('evaluate:start', [{ modelIds: [], since: null, replicates: -1 }])
    expect(!negative.ok && negative.error.message).toContain('(replicates)')
    const unknown = await api.dispatch('evaluate:status', ['no-such-job'])
    expect(unknown).toEqual({ ok: false, error: { code: 'not-found', message: 'No evaluation job "no-such-job".' } })
  })

  it('runs a job to the service’s figures with progress in between, one job at a time', async () => {
    const started = await api.dispatch('evaluate:start', [{ modelIds: ['logistic'], since: null, replicates: 50 }])
    expect(started.ok).toBe(true)
    const first = (started as { ok: true; result: EvaluationJobStatus }).result
    expect(first.state).toBe('running')
    const again = await api.dispatch('evaluate:start', [{ modelIds: ['logistic'], since: null, replicates: 50 }])
    expect(!again.ok && again.error.message).toContain(`already running (job ${first.jobId})`)

    const fractions: number[] = []
    let status = first
    while (status.state === 'running') {
      await new Promise((resolve) => setTimeout(resolve, 20))
      const polled = await api.dispatch('evaluate:status', [first.jobId])
      status = (polled as { ok: true; result: EvaluationJobStatus }).result
      fractions.push(status.fraction)
    }
    expect(status.error).toBeNull()
    expect(status.state).toBe('done')
    expect(fractions.some((f) => f > 0 && f < 1)).toBe(true)
    expect([...fractions].sort((a, b) => a - b)).toEqual(fractions)

    const registry = new ModelRegistry(modelsDir())
    try {
      const direct = await evaluateDatabase({ db, databasePath, registry, knowledgeBasePath: defaultKnowledgeBasePath() }, { modelIds: ['logistic'], bootstrap: { replicates: 50 } })
      const view = status.result!.models[0]!
      expect(view.rows.map((r) => r.label)).toEqual(['logistic', ...direct.models[0]!.baselines.map((b) => b.label)])
      expect(view.rows[0]!.metrics.jaccard).toEqual(direct.models[0]!.summary.metrics.jaccard)
      // At drug level, the app's own checker and drug choice give the figures the service gives from the knowledge base.
      const drug = direct.models[0]!.drugLevel
      expect(view.drugRows.map((r) => r.label)).toEqual(['logistic', ...drug.baselines.map((b) => b.label)])
      expect(view.drugRows[0]!.metrics).toEqual(drug.summary.metrics)
      expect(view.drugRows[0]!.metrics['ddi:major-or-contraindicated']).toBeDefined()
      expect(view.visitsWithoutDrug).toBe(drug.visits.withoutDrug)
      expect(status.result!.databaseFingerprint).toBe(direct.database.fingerprint.sha256)
    } finally {
      await registry.close()
    }
  }, 120_000)
})
