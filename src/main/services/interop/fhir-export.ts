// A recommendation (and the pharmacist review of the patient, when there is one) as a FHIR R4 collection
// Bundle an EHR can file:
//   MedicationRequest (status draft, intent proposal)  one per recommended ATC3 class
//   DetectedIssue                                       one per interaction warning; severity high/moderate/low,
//                                                       implicated requests, evidence naming source and licence,
//                                                       mitigation for a review decision (override + reason)
//   Device                                              the model (id, version, sha256 of model.onnx)
//   Provenance                                          the proposals and issues, made by that Device
//   AuditEvent                                          the decision: recommendation shown, or review recorded
// Ids are derived from the recommendation's input hash, so the same recommendation exports the same
// Bundle. Validated in tests with Medplum's R4 validator (tests/unit/fhir-export.test.ts).
import type { ReviewRecord } from '../../../shared/domain/review'
import type { RecommendationResult } from '../../../shared/domain/recommendation'
import type { DdiSourceInfo, Severity } from '../../../shared/domain/interaction'
import type { ServiceContext } from '../service-context'
import { createHash } from 'node:crypto'
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
  /** Bundle.timestamp; default the recommendation's time. */
  now?: string
}

export const ATC_SYSTEM = 'http://www.whocc.no/atc'
export const OVERRIDE_REASON_SYSTEM = 'urn:medrec:override-reason'
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
  if (!source) return { text: `${name} (licence not recorded)`, url: null }
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
  const names = new Map(rec.drugs.map((d) => [d.atc3, d.name]))
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

  const requestRefs = new Map<string, string>()
  for (const atc3 of rec.combination) {
    const drug = rec.drugs.find((d) => d.atc3 === atc3)
    const display = names.get(atc3) ?? atc3
    const ref = add({
      resourceType: 'MedicationRequest',
      id: stableUuid(seed, 'proposal', atc3),
      status: 'draft',
      intent: 'proposal',
      medicationCodeableConcept: { coding: [{ system: ATC_SYSTEM, code: atc3, display }], text: `${atc3} ${display}` },
      subject,
      authoredOn: instant(rec.createdAt),
      note: [{ text: `Recommended class (ATC level 3) by ${model.id} ${model.version}: probability ${drug ? drug.probability.toFixed(3) : '?'} at threshold ${rec.threshold}.` }]
    })
    requestRefs.set(atc3, ref)
  }

  const issueRefs: string[] = []
  const implicated = (code: string): { reference?: string; display: string } =>
    requestRefs.has(code) ? { reference: requestRefs.get(code)!, display: `${code} ${names.get(code) ?? ''}`.trim() } : { display: code }
  for (const pair of rec.ddi.interactions) {
    const source = sourceLine(pair.source, sources)
    issueRefs.push(
      add({
        resourceType: 'DetectedIssue',
        id: stableUuid(seed, 'issue', pair.a, pair.b, pair.source),
        status: 'final',
        code: { coding: [{ system: ACT_CODE, code: 'DRG', display: 'Drug Interaction Alert' }], text: `${pair.severity} interaction` },
        severity: detectedIssueSeverity(pair.severity),
        patient: subject,
        identifiedDateTime: instant(rec.createdAt),
        author: { reference: deviceRef },
        implicated: [implicated(pair.a), implicated(pair.b)],
        evidence: [{ code: [{ text: source.text }] }],
        detail: `${pair.a}–${pair.b}: ${pair.severity} interaction reported by ${pair.source}.`,
        ...(source.url ? { reference: source.url } : {})
      })
    )
  }
  for (const decision of review?.decisions ?? []) {
    const [a, b] = decision.drugs
    const source = sourceLine(decision.sources[0] ?? 'unknown source', sources)
    const reason = decision.reason ?? 'other'
    issueRefs.push(
      add({
        resourceType: 'DetectedIssue',
        id: stableUuid(seed, 'review', String(review!.auditId), decision.warningKey),
        status: 'final',
        code: { coding: [{ system: ACT_CODE, code: 'DRG', display: 'Drug Interaction Alert' }], text: `${decision.severity} interaction (pharmacist review)` },
        severity: detectedIssueSeverity(decision.severity),
        patient: subject,
        identifiedDateTime: instant(review!.createdAt),
        implicated: [{ display: a }, { display: b }],
        evidence: decision.sources.map((name) => ({ code: [{ text: sourceLine(name, sources).text }] })),
        detail: `${a}–${b}: ${decision.severity} interaction; ${decision.action === 'override' ? 'overridden' : 'accepted'} in review ${review!.auditId}.`,
        ...(source.url ? { reference: source.url } : {}),
        mitigation: [
          {
            action:
              decision.action === 'override'
                ? {
                    coding: [{ system: OVERRIDE_REASON_SYSTEM, code: reason, display: `Override: ${reason.replace(/-/g, ' ')}` }],
                    text: `Override: ${reason.replace(/-/g, ' ')}${decision.reasonText ? ` (${decision.reasonText})` : ''}`
                  }
                : { coding: [{ system: ACT_CODE, code: '13', display: 'Stopped Concurrent Therapy' }], text: 'Warning accepted: the prescription will be changed' },
            date: instant(review!.createdAt),
            author: { display: review!.userName }
          }
        ]
      })
    )
  }

  const targets = [...requestRefs.values(), ...issueRefs].map((reference) => ({ reference }))
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
      ...[...requestRefs.values()].map((reference) => ({ what: { reference } }))
    ]
  })
  return { resourceType: 'Bundle', id: stableUuid(seed, 'bundle', String(review?.auditId ?? '')), type: 'collection', timestamp: now, entry: entries }
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
    review
  })
}
