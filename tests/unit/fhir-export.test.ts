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

/** The same recommendation at drug level: classes resolved to drugs, drug-pair warnings, a substitution. */
function drugLevelRecommendation(): RecommendationResult {
  const rec = recommendation()
  rec.classes = [
    { atc3: 'B01A', name: 'Antithrombotic agents', probability: 0.91, drugs: [{ atc5: 'B01AA03', name: 'warfarin', source: 'current', probability: null }], alternatives: [], noDrugReason: null, review: { conflictsWith: ['M01AE01'], severity: 'Major' } },
    { atc3: 'M01A', name: 'Antiinflammatory and antirheumatic products, non-steroids', probability: 0.73, drugs: [{ atc5: 'M01AE01', name: 'ibuprofen', source: 'model', probability: 0.62 }], alternatives: [], noDrugReason: null, review: null },
    { atc3: 'A02B', name: 'Drugs for peptic ulcer', probability: 0.66, drugs: [{ atc5: 'A02BC02', name: 'pantoprazole', source: 'model', probability: 0.4 }], alternatives: [], noDrugReason: null, review: null },
    { atc3: 'N05C', name: 'Hypnotics and sedatives', probability: 0.55, drugs: [], alternatives: [], noDrugReason: 'no member of the class is in the within-class model', review: null }
  ]
  rec.combination = ['B01A', 'M01A', 'A02B', 'N05C']
  rec.substituted = [{ atc3: 'A02B', from: 'A02BC01', to: 'A02BC02', conflictsWith: ['B01AC04'], severity: 'Major', reason: 'next member without a blocking interaction' }]
  rec.warnings = [
    { kind: 'interaction', severity: 'Major', interrupting: true, tier: 'interrupt', scope: 'new', drugs: ['B01AA03', 'M01AE01'], names: ['warfarin', 'ibuprofen'], sources: ['DDInter'], detail: 'warfarin (B01AA03) + ibuprofen (M01AE01): Major interaction' },
    { kind: 'allergy', severity: 'Contraindicated', interrupting: true, tier: 'interrupt', scope: 'new', drugs: ['M01AE01', 'M01AE01'], names: ['ibuprofen', 'ibuprofen'], sources: ["the patient's allergy list"], detail: 'ibuprofen: allergy to ibuprofen recorded' },
    { kind: 'interaction', severity: 'Moderate', interrupting: false, tier: 'inline', scope: 'existing', drugs: ['B01AA03', 'C01BD01'], names: ['warfarin', 'amiodarone'], sources: ['DDInter'], detail: 'warfarin (B01AA03) + amiodarone (C01BD01): Moderate interaction (existing co-prescription)' },
    { kind: 'duplication', severity: 'Moderate', interrupting: false, tier: 'inline', scope: 'new', drugs: ['A02BC02', 'A02BC05'], names: ['pantoprazole', 'esomeprazole'], sources: ['WHO ATC classification (same level-4 group)'], detail: 'pantoprazole + esomeprazole: same ATC level-4 group A02BC' },
    { kind: 'class-note', severity: 'Minor', interrupting: false, tier: 'details', scope: 'new', drugs: ['N05C', 'B01A'], names: ['Hypnotics and sedatives', 'Antithrombotic agents'], sources: ['DDInter'], detail: 'class-level note (no drug chosen for N05C)' }
  ]
  return rec
}

const drugReview: ReviewRecord = { ...review, decisions: [{ ...review.decisions[0]!, warningKey: 'M01AE01 + B01AA03' }, review.decisions[1]!] }
const codingsOf = (r: FhirResource) => (r.medicationCodeableConcept as { coding: Array<{ system: string; code: string }> }).coding.map((c) => `${c.system.split('/').pop()}:${c.code}`)

describe('FHIR export at drug level', () => {
  it('proposes each recommended drug (ATC5, RxNorm where the record has it, class as a secondary coding) and a DetectedIssue per drug-level warning', () => {
    const rxnorm = new Map([['B01AA03', { code: '855332', display: 'Warfarin Sodium 5 MG Oral Tablet' }]])
    const bundle = recommendationBundle({ recommendation: drugLevelRecommendation(), model: MODEL, sources: [ddinter], rxnorm })
    expectValid(bundle)
    const proposals = ofType(bundle, 'MedicationRequest')
    expect(proposals.map(codingsOf)).toEqual([
      ['atc:B01AA03', 'rxnorm:855332', 'atc:B01A'],
      ['atc:M01AE01', 'atc:M01A'],
      ['atc:A02BC02', 'atc:A02B'],
      ['atc:N05C']
    ])
    expect(proposals.every((p) => p.intent === 'proposal' && p.status === 'draft')).toBe(true)
    const notes = (r: FhirResource) => JSON.stringify(r.note)
    expect(notes(proposals[2]!)).toContain('DDI-safe substitution: replaces A02BC01')
    expect(notes(proposals[0]!)).toContain('Kept for review: Major interaction with M01AE01')
    expect(notes(proposals[3]!)).toContain('no member of the class is in the within-class model')
    const urlOf = (r: FhirResource) => bundle.entry.find((e) => e.resource === r)!.fullUrl

    const issues = ofType(bundle, 'DetectedIssue')
    expect(issues.map((i) => [(i.code as { coding: Array<{ code: string }> }).coding[0]!.code, i.severity])).toEqual([
      ['DRG', 'high'],
      ['ALGY', 'high'],
      ['DRG', 'moderate'],
      ['DUPTHPY', 'moderate'],
      ['DRG', 'low']
    ])
    // Implicated: the proposals where the drug is proposed, the drug the patient already takes by name.
    expect(issues[0]!.implicated).toEqual([
      { reference: urlOf(proposals[0]!), display: 'warfarin (B01AA03)' },
      { reference: urlOf(proposals[1]!), display: 'ibuprofen (M01AE01)' }
    ])
    expect(issues[2]!.implicated).toEqual([{ reference: urlOf(proposals[0]!), display: 'warfarin (B01AA03)' }, { display: 'amiodarone (C01BD01), already taken by the patient' }])
    expect(JSON.stringify(issues[0]!.evidence)).toContain('DDInter 1.0; licence CC BY-NC-SA 4.0')
    expect(issues[0]!.reference).toBe('https://ddinter.scbdd.com/')
    expect(JSON.stringify(issues[3]!.evidence)).toContain('licence CC BY-NC-SA 4.0')
    // A class note names the class proposal and the partner class.
    expect(issues[4]!.implicated).toEqual([{ reference: urlOf(proposals[3]!), display: 'N05C Hypnotics and sedatives' }, { display: 'Antithrombotic agents (B01A)' }])
    expect(issues.some((i) => i.mitigation)).toBe(false)
    expect((ofType(bundle, 'Provenance')[0]!.target as unknown[]).length).toBe(proposals.length + issues.length)
  })

  it('puts a review override on the DetectedIssue of the warning it decided, and keeps a decision about another warning as its own issue', () => {
    const bundle = recommendationBundle({ recommendation: drugLevelRecommendation(), model: MODEL, sources: [ddinter], review: drugReview })
    expectValid(bundle)
    const issues = ofType(bundle, 'DetectedIssue')
    const decided = issues.filter((i) => i.mitigation)
    expect(decided).toHaveLength(2)
    // The warfarin–ibuprofen warning carries the override (the review's key order does not matter).
    expect(decided[0]).toBe(issues[0])
    const [override] = decided[0]!.mitigation as Array<{ action: { coding: Array<{ code: string }>; text: string }; author: { display: string } }>
    expect(override!.action.coding[0]!.code).toBe('will-monitor')
    expect(override!.action.text).toBe('Override: will monitor (INR checked twice weekly)')
    expect(override!.author.display).toBe('pharmacist.a')
    // warfarin–omeprazole is not a warning of this recommendation: its own issue, still with the decision.
    expect(decided[1]!.detail).toMatch(/warfarin–omeprazole: Moderate interaction; accepted in review 12/)
    expect(issues).toHaveLength(6)
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
      const proposals = ofType(bundle, 'MedicationRequest')
      expect(proposals.length).toBeGreaterThan(0)
      // Drug level: every proposal with a drug is coded by its ingredient's ATC5 code, the class second.
      const drugCodes = proposals.map((p) => codingsOf(p)[0]!).filter((c) => /^atc:[A-Z]\d\d[A-Z]{2}\d\d$/.test(c))
      expect(drugCodes.length).toBeGreaterThan(0)
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
