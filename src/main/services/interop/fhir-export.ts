// A recommendation (and the pharmacist review of the patient, when there is one) as a FHIR R4 collection
// Bundle an EHR can file:
//   MedicationRequest (status draft, intent proposal)  one per recommended DRUG (ingredient: ATC5 coding, the
//                                                       RxNorm code of the product the patient takes/took when the
//                                                       import recorded one, the ATC3 class as a secondary coding);
//                                                       a class for which no drug could be chosen stays one
//                                                       class-level proposal
//   DetectedIssue                                       one per drug-level warning (interaction, duplication,
//                                                       allergy, class note); severity high/moderate/low,
//                                                       implicated proposals (or the drug the patient already takes),
//                                                       evidence naming source and licence, mitigation for a
//                                                       review decision (override + reason)
//   Device                                              the model (id, version, sha256 of model.onnx)
//   Provenance                                          the proposals and issues, made by that Device
//   AuditEvent                                          the decision: recommendation shown, or review recorded
// Ids are derived from the recommendation's input hash, so the same recommendation exports the same
// Bundle. Validated in tests with Medplum's R4 validator (tests/unit/fhir-export.test.ts).
import type { ReviewRecord } from '../../../shared/domain/review'
import type { DrugWarning, RecommendationResult } from '../../../shared/domain/recommendation'
import type { DdiSourceInfo, Severity } from '../../../shared/domain/interaction'
import type { ServiceContext } from '../service-context'
import { createHash } from 'node:crypto'
import type { Db } from '../db/database'
import { recommend } from '../recommend/recommend'
import { reviewHistory } from '../review/review'

export type FhirResource = { resourceType: string; id: string } & Record<string, unknown>
export interface FhirBundle {
  resourceType: 'Bundle'
  id: string
  type: 'collection'
  timestamp: string
  entry: Array<{ fullUrl: string; resource: FhirResource }>
}

export interface FhirExportInput {
  recommendation: RecommendationResult
  /** The model's manifest fields naming it exactly. */
  model: { id: string; version: string; family: string; sha256: string }
  /** The interaction sources loaded (name, licence, attribution), to name on each DetectedIssue. */
  sources: readonly DdiSourceInfo[]
  review?: ReviewRecord | null
  /**
   * RxNorm code and name of the product the patient takes or took, by ATC5 (medications imported from FHIR
   * keep their RxNorm code), to code a proposal of that drug with. The open data has no ingredient-level
   * RxNorm table, so a drug the patient never had is coded by ATC alone.
   */
  rxnorm?: ReadonlyMap<string, { code: string; display: string }>
  /** Bundle.timestamp; default the recommendation's time. */
  now?: string
}

export const ATC_SYSTEM = 'http://www.whocc.no/atc'
export const OVERRIDE_REASON_SYSTEM = 'urn:medrec:override-reason'
export const RXNORM_SYSTEM = 'http://www.nlm.nih.gov/research/umls/rxnorm'
const MEDREC_PATIENT_SYSTEM = 'urn:medrec:source-patient-id'
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode'

/** DetectedIssue.severity: Contraindicated and Major are high, Moderate moderate, Minor and Unknown low. */
export function detectedIssueSeverity(severity: Severity): 'high' | 'moderate' | 'low' {
  if (severity === 'Contraindicated' || severity === 'Major') return 'high'
  return severity === 'Moderate' ? 'moderate' : 'low'
}

/** A UUID made from a hash (RFC 4122 layout, version 5 bits), so exports are reproducible. */
export function stableUuid(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex')
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

/** FHIR instants need a time zone; the app writes UTC ISO strings. */
const instant = (iso: string): string => (/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`)

function sourceLine(name: string, sources: readonly DdiSourceInfo[]): { text: string; url: string | null } {
  const source = sources.find((s) => s.name === name || name.startsWith(s.name))
  if (!source) {
    // The recommendation's own checks: duplication by the WHO ATC index, allergies from the patient's record.
    if (name.startsWith('WHO ATC')) return { text: `${name}; licence CC BY-NC-SA 4.0 (WHO Collaborating Centre for Drug Statistics Methodology, as published scrape)`, url: null }
    if (/allergy list/.test(name)) return { text: `${name} (the patient's own record; no third-party licence)`, url: null }
    return { text: `${name} (licence not recorded)`, url: null }
  }
  return { text: `${source.name} ${source.version}; licence ${source.license}; ${source.attribution}`, url: source.url || null }
}

export function recommendationBundle(input: FhirExportInput): FhirBundle {
  const { recommendation: rec, model, sources, review } = input
  const seed = rec.inputHash
  const now = instant(input.now ?? rec.createdAt)
  const entries: Array<{ fullUrl: string; resource: FhirResource }> = []
  const add = (resource: FhirResource): string => {
    const fullUrl = `urn:uuid:${resource.id}`
    entries.push({ fullUrl, resource })
    return fullUrl
  }
  const classNames = new Map(rec.drugs.map((d) => [d.atc3, d.name]))
  const patientRef = add({
    resourceType: 'Patient',
    id: stableUuid(seed, 'patient'),
    identifier: [{ system: MEDREC_PATIENT_SYSTEM, value: rec.sourcePatientId }]
  })
  const deviceRef = add({
    resourceType: 'Device',
    id: stableUuid(seed, 'model', model.id, model.sha256),
    identifier: [{ system: 'urn:medrec:model-sha256', value: model.sha256 }],
    deviceName: [{ name: `MedRec model ${model.id} (${model.family})`, type: 'model-name' }],
    version: [{ value: model.version }]
  })
  const subject = { reference: patientRef }
  const proposal = (key: string, concept: Record<string, unknown>, notes: string[]): string =>
    add({
      resourceType: 'MedicationRequest',
      id: stableUuid(seed, 'proposal', key),
      status: 'draft',
      intent: 'proposal',
      medicationCodeableConcept: concept,
      subject,
      authoredOn: instant(rec.createdAt),
      note: notes.map((text) => ({ text }))
    })

  // Proposals, keyed by the code a warning names: ATC5 for a drug, ATC3 for a class without a drug.
  const requestRefs = new Map<string, { reference: string; display: string }>()
  const classProbability = (atc3: string): string => rec.drugs.find((d) => d.atc3 === atc3)?.probability.toFixed(3) ?? '?'
  const byModel = `by ${model.id} ${model.version}`
  const drugLevel = rec.classes.length > 0
  for (const cls of rec.classes) {
    const className = cls.name ?? classNames.get(cls.atc3) ?? cls.atc3
    const classLine = `Class ${cls.atc3} ${className} recommended ${byModel}: probability ${cls.probability.toFixed(3)} at threshold ${rec.threshold}.`
    if (cls.drugs.length === 0) {
      const display = `${cls.atc3} ${className}`
      const reference = proposal(cls.atc3, { coding: [{ system: ATC_SYSTEM, code: cls.atc3, display: className }], text: display }, [
        classLine,
        `No drug could be chosen for this class${cls.noDrugReason ? `: ${cls.noDrugReason}` : ''}.`
      ])
      requestRefs.set(cls.atc3, { reference, display })
      continue
    }
    for (const drug of cls.drugs) {
      if (requestRefs.has(drug.atc5)) continue // one ingredient recommended under two classes: one proposal
      const name = drug.name ?? drug.atc5
      const rxnorm = input.rxnorm?.get(drug.atc5)
      const substituted = rec.substituted.find((s) => s.to === drug.atc5)
      const notes = [classLine, drugSourceLine(drug)]
      if (substituted) notes.push(`DDI-safe substitution: replaces ${substituted.from} (${substituted.severity} interaction with ${substituted.conflictsWith.join(', ')}): ${substituted.reason}.`)
      if (cls.review && drug.source === 'current') notes.push(`Kept for review: ${cls.review.severity} interaction with ${cls.review.conflictsWith.join(', ')}.`)
      if (rxnorm) notes.push(`RxNorm ${rxnorm.code} is the product the patient ${drug.source === 'current' ? 'takes' : 'took'}: ${rxnorm.display}.`)
      const reference = proposal(
        drug.atc5,
        {
          coding: [
            { system: ATC_SYSTEM, code: drug.atc5, display: name, userSelected: true },
            ...(rxnorm ? [{ system: RXNORM_SYSTEM, code: rxnorm.code, display: rxnorm.display }] : []),
            { system: ATC_SYSTEM, code: cls.atc3, display: className }
          ],
          text: `${name} (${drug.atc5}; class ${cls.atc3} ${className})`
        },
        notes
      )
      requestRefs.set(drug.atc5, { reference, display: `${name} (${drug.atc5})` })
    }
  }
  if (!drugLevel) {
    // A result without drug-level classes (older stored results): class-level proposals as before.
    for (const atc3 of rec.combination) {
      const display = classNames.get(atc3) ?? atc3
      const reference = proposal(atc3, { coding: [{ system: ATC_SYSTEM, code: atc3, display }], text: `${atc3} ${display}` }, [
        `Recommended class (ATC level 3) ${byModel}: probability ${classProbability(atc3)} at threshold ${rec.threshold}.`
      ])
      requestRefs.set(atc3, { reference, display: `${atc3} ${display}`.trim() })
    }
  }

  const issueRefs: string[] = []
  const decisions = [...(review?.decisions ?? [])]
  const takeDecision = (codes: readonly string[]): ReviewDecision | undefined => {
    const key = [...codes].map((c) => c.toUpperCase()).sort().join('|')
    const index = decisions.findIndex((d) => decisionCodes(d.warningKey) === key)
    return index < 0 ? undefined : decisions.splice(index, 1)[0]
  }
  const evidence = (names: readonly string[]) => names.map((name) => ({ code: [{ text: sourceLine(name, sources).text }] }))
  const reference = (names: readonly string[]) => {
    const url = names.map((name) => sourceLine(name, sources).url).find((u) => u !== null)
    return url ? { reference: url } : {}
  }
  const issueBase = (id: string, code: { code: string; display: string }, text: string, severity: Severity, when: string) => ({
    resourceType: 'DetectedIssue',
    id,
    status: 'final',
    code: { coding: [{ system: ACT_CODE, ...code }], text },
    severity: detectedIssueSeverity(severity),
    patient: subject,
    identifiedDateTime: instant(when)
  })

  if (drugLevel) {
    for (const warning of rec.warnings) {
      const decision = warning.kind === 'class-note' ? undefined : takeDecision(warning.drugs)
      const implicated = warning.drugs.map((code, i) => {
        const request = requestRefs.get(code)
        if (request) return request
        return { display: `${warning.names[i] ?? code} (${code})${warning.kind === 'class-note' ? '' : ', already taken by the patient'}` }
      })
      issueRefs.push(
        add({
          ...issueBase(stableUuid(seed, 'warning', warning.kind, ...warning.drugs), ISSUE_CODES[warning.kind], `${warning.severity} ${ISSUE_TEXT[warning.kind]}`, warning.severity, rec.createdAt),
          author: { reference: deviceRef },
          implicated,
          evidence: evidence(warning.sources),
          detail: `${warning.detail}. ${warning.interrupting ? 'Interrupting' : warning.tier === 'inline' ? 'Shown inline' : 'Shown in details'}; ${warning.scope === 'new' ? 'involves a newly recommended drug' : 'between drugs the patient already takes'}.`,
          ...reference(warning.sources),
          ...(decision ? { mitigation: [mitigation(decision, review!)] } : {})
        })
      )
    }
  } else {
    for (const pair of rec.ddi.interactions) {
      issueRefs.push(
        add({
          ...issueBase(stableUuid(seed, 'issue', pair.a, pair.b, pair.source), ISSUE_CODES.interaction, `${pair.severity} interaction`, pair.severity, rec.createdAt),
          author: { reference: deviceRef },
          implicated: [pair.a, pair.b].map((code) => requestRefs.get(code) ?? { display: code }),
          evidence: evidence([pair.source]),
          detail: `${pair.a}–${pair.b}: ${pair.severity} interaction reported by ${pair.source}.`,
          ...reference([pair.source])
        })
      )
    }
  }
  // Review decisions about a warning this recommendation does not list (the review was of another
  // proposal): their own DetectedIssue, so every override and its reason is in the Bundle.
  for (const decision of decisions) {
    const [a, b] = decision.drugs
    issueRefs.push(
      add({
        ...issueBase(stableUuid(seed, 'review', String(review!.auditId), decision.warningKey), ISSUE_CODES.interaction, `${decision.severity} interaction (pharmacist review)`, decision.severity, review!.createdAt),
        implicated: [{ display: a }, { display: b }],
        evidence: evidence(decision.sources),
        detail: `${a}–${b}: ${decision.severity} interaction; ${decision.action === 'override' ? 'overridden' : 'accepted'} in review ${review!.auditId}.`,
        ...reference(decision.sources.slice(0, 1)),
        mitigation: [mitigation(decision, review!)]
      })
    )
  }

  const targets = [...[...requestRefs.values()].map((r) => r.reference), ...issueRefs].map((ref) => ({ reference: ref }))
  add({
    resourceType: 'Provenance',
    id: stableUuid(seed, 'provenance'),
    target: targets.length > 0 ? targets : [subject],
    recorded: instant(rec.createdAt),
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler', display: 'Assembler' }] },
        who: { reference: deviceRef, display: `${model.id} ${model.version} sha256:${model.sha256}` }
      }
    ],
    entity: [{ role: 'source', what: { reference: deviceRef, display: `model ${model.id} version ${model.version}, model.onnx sha256 ${model.sha256}` } }]
  })
  const decidedBy = review ? review.userName : 'MedRec Desktop'
  add({
    resourceType: 'AuditEvent',
    id: stableUuid(seed, 'audit', String(review?.auditId ?? rec.auditId ?? 'none')),
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [{ system: 'urn:medrec:audit-kind', code: review ? 'review' : 'recommendation', display: review ? `Pharmacist review: ${review.outcome}` : 'Recommendation shown' }],
    action: 'C',
    recorded: instant(review?.createdAt ?? rec.createdAt),
    outcome: '0',
    agent: [
      { who: { display: decidedBy }, requestor: true },
      { who: { reference: deviceRef }, requestor: false }
    ],
    source: { site: 'MedRec Desktop', observer: { reference: deviceRef } },
    entity: [
      { what: subject, description: `MedRec audit entry ${review?.auditId ?? rec.auditId ?? '(not recorded)'}` },
      ...[...requestRefs.values()].map((r) => ({ what: { reference: r.reference } }))
    ]
  })
  return { resourceType: 'Bundle', id: stableUuid(seed, 'bundle', String(review?.auditId ?? '')), type: 'collection', timestamp: now, entry: entries }
}

type ReviewDecision = ReviewRecord['decisions'][number]

/** DetectedIssue.code per warning kind (HL7 v3 ActCode detected-issue codes). */
const ISSUE_CODES: Record<DrugWarning['kind'], { code: string; display: string }> = {
  interaction: { code: 'DRG', display: 'Drug Interaction Alert' },
  'class-note': { code: 'DRG', display: 'Drug Interaction Alert' },
  duplication: { code: 'DUPTHPY', display: 'Duplicate Therapy Alert' },
  allergy: { code: 'ALGY', display: 'Allergy Alert' }
}
const ISSUE_TEXT: Record<DrugWarning['kind'], string> = {
  interaction: 'drug interaction',
  'class-note': 'class-level interaction note (no drug chosen for the class)',
  duplication: 'therapeutic duplication',
  allergy: 'allergy match'
}

/** A review decision's warning key ("B01AA03 + M01AE01", or "|"-joined) as sorted upper-case codes. */
function decisionCodes(warningKey: string): string {
  return warningKey
    .split(/\s*[+|]\s*/)
    .map((c) => c.trim().toUpperCase())
    .sort()
    .join('|')
}

function drugSourceLine(drug: RecommendationResult['classes'][number]['drugs'][number]): string {
  if (drug.source === 'current') return 'The patient takes this drug on the current visit.'
  if (drug.source === 'history') return 'The patient took this drug on their most recent earlier visit with this class.'
  return `Chosen within the class by the drug-choice model${drug.probability === null ? '' : ` (probability ${drug.probability.toFixed(3)})`}.`
}

function mitigation(decision: ReviewDecision, review: ReviewRecord): Record<string, unknown> {
  const reason = decision.reason ?? 'other'
  return {
    action:
      decision.action === 'override'
        ? {
            coding: [{ system: OVERRIDE_REASON_SYSTEM, code: reason, display: `Override: ${reason.replace(/-/g, ' ')}` }],
            text: `Override: ${reason.replace(/-/g, ' ')}${decision.reasonText ? ` (${decision.reasonText})` : ''}`
          }
        : { coding: [{ system: ACT_CODE, code: '13', display: 'Stopped Concurrent Therapy' }], text: 'Warning accepted: the prescription will be changed' },
    date: instant(review.createdAt),
    author: { display: review.userName }
  }
}

/**
 * Runs a recommendation for `patient` (audited as usual) and exports it with the patient's latest
 * pharmacist review, if any, as a FHIR Bundle.
 */
export async function exportRecommendationAsFhir(
  ctx: ServiceContext,
  patient: number | string,
  options: { sources: readonly DdiSourceInfo[]; includeReview?: boolean; modelId?: string | null } = { sources: [] }
): Promise<FhirBundle> {
  const recommendation = await recommend(ctx, patient, { modelId: options.modelId ?? undefined })
  const { manifest } = await ctx.registry.get(recommendation.model.id)
  const review = options.includeReview === false ? null : (reviewHistory(ctx.db, recommendation.patientId, 1)[0] ?? null)
  return recommendationBundle({
    recommendation,
    model: { id: manifest.id, version: manifest.version, family: manifest.family, sha256: manifest.onnx.sha256 },
    sources: options.sources,
    review,
    rxnorm: patientRxNormCodes(ctx.db, recommendation.patientId)
  })
}

/** The RxNorm code of each ATC5 drug in the patient's record (the most recent visit's product first). */
export function patientRxNormCodes(db: Db, patientId: number): Map<string, { code: string; display: string }> {
  const rows = db
    .prepare(
      `SELECT m.atc5, m.other_id, m.raw_name FROM medications m JOIN visits v ON v.id = m.visit_id
       WHERE v.patient_id = ? AND m.atc5 IS NOT NULL AND m.other_id LIKE 'RxNorm:%' ORDER BY v.sort_key DESC, m.id`
    )
    .all(patientId) as Array<{ atc5: string; other_id: string; raw_name: string }>
  const codes = new Map<string, { code: string; display: string }>()
  for (const row of rows) if (!codes.has(row.atc5)) codes.set(row.atc5, { code: row.other_id.slice('RxNorm:'.length), display: row.raw_name })
  return codes
}
