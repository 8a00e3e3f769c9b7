// FHIR export of a recommendation and a pharmacist review, validated by Medplum's R4 validator; and
// end to end: a Synthea patient imported from FHIR, recommended by a shipped model, exported.
import type { ReviewRecord } from '../../src/shared/domain/review'
import type { RecommendationResult } from '../../src/shared/domain/recommendation'
import type { DdiSourceInfo } from '../../src/shared/domain/interaction'
import { openServices } from '../../src/main/services/open-services'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { DdiService } from '../../src/main/services/interactions/ddi-service'
import { importFhir } from '../../src/main/services/imports/fhir'
import { exportRecommendationAsFhir, recommendationBundle, type FhirBundle, type FhirResource } from '../../src/main/services/interop/fhir-export'
import { modelsDir, defaultKnowledgeBasePath } from '../../src/main/services/paths'
import { bundleReferenceProblems, validateR4 } from './fhir-validator'
import { DATA_DIR, HAS_OPEN_DATA, TempSpace } from './import-helpers'

const space = new TempSpace()
afterEach(() => space.cleanup())

const ddinter: DdiSourceInfo = {
  key: 'ddinter',
  kind: 'reference',
  name: 'DDInter',
  version: '1.0',
  license: 'CC BY-NC-SA 4.0',
  attribution: 'Xiong et al., NAR 2022',
  url: 'https://ddinter.scbdd.com/',
  severityGraded: true,
  coverageNote: ''
}

function recommendation(): RecommendationResult {
  return {
    patientId: 7,
    sourcePatientId: 'p-7',
    model: { id: 'logistic', version: '0.1.0', family: 'logistic', onnxSha256: 'd'.repeat(64) },
    provider: { provider: 'cpu', failed: [] },
    threshold: 0.5,
    inputHash: 'c'.repeat(64),
    createdAt: '2026-12-03T10:00:00.000Z',
    drugs: [
      { atc3: 'B01A', name: 'Antithrombotic agents', probability: 0.91, inCombination: true },
      { atc3: 'M01A', name: 'Antiinflammatory and antirheumatic products, non-steroids', probability: 0.73, inCombination: true },
      { atc3: 'A02B', name: 'Drugs for peptic ulcer', probability: 0.66, inCombination: true },
      { atc3: 'N02A', name: 'Opioids', probability: 0.2, inCombination: false }
    ],
    combination: ['B01A', 'M01A', 'A02B'],
    ddi: {
      checked: true,
      source: 'DDInter',
      safeDecoding: null,
      interactions: [
        { a: 'B01A', b: 'M01A', severity: 'Major', source: 'DDInter' },
        { a: 'A02B', b: 'B01A', severity: 'Moderate', source: 'DDInter' },
        { a: 'A02B', b: 'M01A', severity: 'Minor', source: 'DDInter' }
      ],
      ddiRate: 1
    },
    classes: [],
    warnings: [],
    substituted: [],
    dropped: [],
    drugChoice: { unavailable: 'not used by the FHIR export' },
    input: {} as RecommendationResult['input'],
    timing: { encodeMs: 1, inferenceMs: 1, decodeMs: 1, totalMs: 3 },
    auditId: 11
  }
}

const review: ReviewRecord = {
  auditId: 12,
  createdAt: '2026-12-03T10:05:00.000Z',
  userName: 'pharmacist.a',
  patientId: 7,
  sourcePatientId: 'p-7',
  proposed: [],
  outcome: 'approved-with-overrides',
  decisions: [
    { warningKey: 'B01AA03|M01AE01', action: 'override', reason: 'will-monitor', reasonText: 'INR checked twice weekly', drugs: ['warfarin', 'ibuprofen'], severity: 'Major', tier: 'interrupt', sources: ['DDInter'] },
    { warningKey: 'B01AA03|A02BC01', action: 'accept', drugs: ['warfarin', 'omeprazole'], severity: 'Moderate', tier: 'inline', sources: ['DDInter'] }
  ],
  likelyMissing: [],
  note: null,
  model: { id: 'logistic', version: '0.1.0' }
}

const MODEL = { id: 'logistic', version: '0.1.0', family: 'logistic', sha256: 'ab'.repeat(32) }
const ofType = (bundle: FhirBundle, type: string): FhirResource[] => bundle.entry.map((e) => e.resource).filter((r) => r.resourceType === type)

function expectValid(bundle: FhirBundle): void {
  const result = validateR4(bundle)
  expect(result.errors).toEqual([])
  expect(result.warnings).toEqual([])
  expect(bundleReferenceProblems(bundle, result)).toEqual([])
}

describe('FHIR export of a recommendation', () => {
  it('writes a proposal per recommended class, a graded DetectedIssue per warning, the model as Provenance, and validates as R4', () => {
    const bundle = recommendationBundle({ recommendation: recommendation(), model: MODEL, sources: [ddinter] })
    expectValid(bundle)
    const proposals = ofType(bundle, 'MedicationRequest')
    expect(proposals.map((r) => [r.intent, (r.medicationCodeableConcept as { coding: Array<{ code: string }> }).coding[0]!.code])).toEqual([
      ['proposal', 'B01A'],
      ['proposal', 'M01A'],
      ['proposal', 'A02B']
    ])
    const issues = ofType(bundle, 'DetectedIssue')
    expect(issues.map((i) => i.severity)).toEqual(['high', 'moderate', 'low'])
    expect(issues[0]!.implicated).toEqual([
      { reference: bundle.entry.find((e) => e.resource === proposals[0])!.fullUrl, display: 'B01A Antithrombotic agents' },
      { reference: bundle.entry.find((e) => e.resource === proposals[1])!.fullUrl, display: 'M01A Antiinflammatory and antirheumatic products, non-steroids' }
    ])
    expect(JSON.stringify(issues[0]!.evidence)).toContain('licence CC BY-NC-SA 4.0')
    const [provenance] = ofType(bundle, 'Provenance')
    expect((provenance!.target as unknown[]).length).toBe(6)
    expect(JSON.stringify(provenance!.agent)).toContain(`logistic 0.1.0 sha256:${MODEL.sha256}`)
    const [device] = ofType(bundle, 'Device')
    expect(device!.identifier).toEqual([{ system: 'urn:medrec:model-sha256', value: MODEL.sha256 }])
    expect(ofType(bundle, 'AuditEvent')).toHaveLength(1)
    // Same recommendation, same Bundle (ids derive from the input hash).
    expect(recommendationBundle({ recommendation: recommendation(), model: MODEL, sources: [ddinter] })).toEqual(bundle)
  })

  it('records a pharmacist review: the override reason as mitigation, the acceptance, and the reviewer in the AuditEvent', () => {
    const bundle = recommendationBundle({ recommendation: recommendation(), model: MODEL, sources: [ddinter], review })
    expectValid(bundle)
    const reviewed = ofType(bundle, 'DetectedIssue').filter((i) => i.mitigation)
    expect(reviewed).toHaveLength(2)
    const override = reviewed[0]!.mitigation as Array<{ action: { coding: Array<{ system: string; code: string }>; text: string }; author: { display: string } }>
    expect(override[0]!.action.coding[0]).toMatchObject({ system: 'urn:medrec:override-reason', code: 'will-monitor' })
    expect(override[0]!.action.text).toBe('Override: will monitor (INR checked twice weekly)')
    expect(override[0]!.author.display).toBe('pharmacist.a')
    expect(reviewed[0]!.severity).toBe('high')
    const [audit] = ofType(bundle, 'AuditEvent')
    expect(audit!.subtype).toEqual([{ system: 'urn:medrec:audit-kind', code: 'review', display: 'Pharmacist review: approved-with-overrides' }])
    expect((audit!.agent as Array<{ who: { display?: string } }>)[0]!.who.display).toBe('pharmacist.a')
  })

  it('is checked by a validator that refuses broken resources (wrong element, missing required, bad instant)', () => {
    const bundle = structuredClone(recommendationBundle({ recommendation: recommendation(), model: MODEL, sources: [ddinter] }))
    const proposal = ofType(bundle, 'MedicationRequest')[0]!
    proposal.severity = 'high'
    delete ofType(bundle, 'AuditEvent')[0]!.recorded
    ofType(bundle, 'Provenance')[0]!.recorded = '3 December 2026'
    const { errors } = validateR4(bundle)
    expect(errors.some((e) => /additional property "severity"/.test(e))).toBe(true)
    expect(errors.some((e) => /Missing required property/.test(e) && /recorded/.test(e))).toBe(true)
    expect(errors.some((e) => /Provenance|entry\[\d+\]\.resource\.recorded/.test(e) && /instant|format|Invalid/.test(e))).toBe(true)
  })
})

const SYNTHEA = join(DATA_DIR, 'ehr', 'synthea-r4-sample', 'bundles')
const READY = HAS_OPEN_DATA && existsSync(SYNTHEA) && existsSync(join(modelsDir(), 'logistic', 'model.onnx')) && existsSync(defaultKnowledgeBasePath())

describe.runIf(READY)('a Synthea patient from FHIR, end to end', () => {
  it('imports, gets a recommendation with graded interaction warnings from the shipped model, and exports a valid Bundle', async () => {
    const dir = space.dir('medrec-fhir-export-')
    const dbPath = join(dir, 'fhir.sqlite')
    const { openDatabase } = await import('../../src/main/services/db/database')
    const db = openDatabase(dbPath)
    await importFhir(db, { input: join(SYNTHEA, 'Adalberto_Hartmann_44ec4447-9e2c-4eb9-bd4f-0bdb416b806e.json.gz'), dataDir: DATA_DIR })
    const patientId = db.prepare(`SELECT source_patient_id FROM patients`).pluck().get() as string
    db.close()
    const services = await openServices({ databasePath: dbPath, modelsDirectory: modelsDir() })
    const ddi = DdiService.open(defaultKnowledgeBasePath())
    try {
      const bundle = await exportRecommendationAsFhir(services.ctx, patientId, { sources: ddi.sources(), modelId: 'logistic' })
      expectValid(bundle)
      expect(ofType(bundle, 'MedicationRequest').length).toBeGreaterThan(0)
      const issues = ofType(bundle, 'DetectedIssue')
      expect(issues.length).toBeGreaterThan(0)
      for (const issue of issues) expect(JSON.stringify(issue.evidence)).toMatch(/licence CC BY-NC-SA 4\.0|licence /)
      expect((ofType(bundle, 'Patient')[0]!.identifier as Array<{ value: string }>)[0]!.value).toBe(patientId)
    } finally {
      ddi.close()
      await services.close()
    }
  })
})
