// The recommendation, explanation and molecule answers as the services screens show them: the
// recommendation service's result (classes resolved to drugs) plus class members, "already taking" status, the
// tiered DDI check between the recommended drugs and the current drugs, and the acknowledgement of
// interrupting warnings.
import { canonicalJson } from '../canonical-json'
import type { AcknowledgeRequest, ExplainRequest, RecommendRequest } from '../../../shared/api/recommend'
import type { ExplanationView } from '../../../shared/domain/explanation'
import type { AcknowledgeResult, RecommendationView } from '../../../shared/domain/recommendation'
import type { CurrentMedications } from '../../../shared/domain/patient'
import type { DdiCheckResult } from '../../../shared/domain/interaction'
import { createHash } from 'node:crypto'
import { recordAudit, auditIdentity, describeActor } from '../audit/audit'
import { getPatientSummary } from '../db/patients-repo'
import { explain } from '../explain/explain'
import { recommend } from './recommend'
import { tierFor } from '../interactions/ddi-service'
import { currentMedicationInputs, currentMedications } from './current-medications'
import { InvalidRequestError, RefusedError } from '../errors'
import { splitResolvable, warningKey, warningSources } from '../interactions/warning-keys'
import type { MedrecServices } from '../open-services'

const MEMBERS_SHOWN_PER_EVIDENCE = 6
const NEAR_MISSES = 8

/**
 * The tiered check between drugs (ATC5): the recommended classes' drugs and the patient's current drugs, with
 * drug-pair evidence only (class-level signals are not a statement about these drugs), or null without a
 * knowledge base. Codes the knowledge base does not know are left out.
 */
function checkDrugs(services: MedrecServices, drugs: readonly string[]): DdiCheckResult | null {
  const knowledge = services.knowledge()
  if (!knowledge) return null
  const { known } = splitResolvable(knowledge.ddi, [...new Set(drugs)].filter((code) => ATC5.test(code)))
  const check = knowledge.ddi.check(known, { maxMembers: MEMBERS_SHOWN_PER_EVIDENCE })
  const warnings = check.warnings.flatMap((warning) => {
    const evidence = warning.evidence.filter((e) => e.basis === 'drug-pairs')
    if (evidence.length === 0) return []
    const severity = evidence[0]!.severity // evidence is sorted most severe first
    return [{ ...warning, evidence, severity, tier: tierFor(severity) }]
  })
  return { ...check, warnings }
}

const ATC5 = /^[A-Z]\d\d[A-Z]{2}\d\d$/

/** Every ATC5 drug on the current medication list. */
function currentDrugCodes(current: CurrentMedications): string[] {
  return currentMedicationInputs(current).filter((code) => ATC5.test(code))
}

export async function recommendView(services: MedrecServices, request: RecommendRequest): Promise<RecommendationView> {
  const ctx = services.context()
  const recommendation = await recommend(ctx, request.patientId, {
    modelId: request.modelId ?? null,
    threshold: request.threshold ?? undefined,
    ...(request.missRate != null ? { missRate: request.missRate } : {}),
    ddiSafe: request.ddiSafe ?? null
  })
  const model = await ctx.registry.get(recommendation.model.id)
  const current = currentMedications(ctx.db, request.patientId)
  const currentDrugs = new Set([
    ...currentDrugCodes(current),
    ...recommendation.classes.flatMap((c) => c.drugs.filter((d) => d.source === 'current').map((d) => d.atc5))
  ])
  const catalog = services.knowledge()?.catalog ?? null
  const classes = recommendation.classes.map((cls) => ({
    atc3: cls.atc3,
    name: cls.name ?? catalog?.name(cls.atc3) ?? null,
    probability: cls.probability,
    status: cls.drugs.some((d) => d.source === 'current') ? ('already-taking' as const) : ('new' as const),
    drugs: cls.drugs,
    alternatives: cls.alternatives,
    noDrugReason: cls.noDrugReason,
    review: cls.review,
    substitutedFrom: recommendation.substituted.find((s) => s.atc3 === cls.atc3)?.from ?? null,
    members: catalog?.members(cls.atc3) ?? []
  }))
  const recommendedDrugs = recommendation.classes.flatMap((c) => c.drugs.map((d) => d.atc5))
  const ddiCheck = checkDrugs(services, [...recommendedDrugs, ...currentDrugs])
  return {
    recommendation,
    classes,
    nearMisses: recommendation.drugs
      .filter((d) => !d.inCombination)
      .slice(0, NEAR_MISSES)
      .map((d) => ({ atc3: d.atc3, name: d.name, probability: d.probability })),
    currentMedications: current,
    ddiCheck,
    warningKeys: ddiCheck ? ddiCheck.warnings.map((w) => warningKey(ddiCheck, w)) : [],
    warningScopes: ddiCheck
      ? ddiCheck.warnings.map((w) => {
          const introduces = (index: number) => !currentDrugs.has(ddiCheck.drugs[index]?.input ?? '')
          return introduces(w.a) || introduces(w.b) ? 'new' : 'existing'
        })
      : [],
    classNotes: recommendation.warnings.filter((w) => w.kind === 'class-note'),
    ddiUnavailable: services.knowledgeUnavailable,
    modelLoadMs: Math.round(model.session.loadMs),
    modelThreshold: model.manifest.threshold
  }
}

/**
 * Records that the user read interrupting warnings of a recommendation. The check is run again here, so
 * the audit entry holds the warnings as the service states them, and a key that is not an interrupting
 * warning of this combination is refused.
 */
export async function acknowledgeWarnings(services: MedrecServices, request: AcknowledgeRequest): Promise<AcknowledgeResult> {
  const patient = getPatientSummary(services.db, request.patientId)
  citedRecommendation(services, request.recommendationAuditId, patient.id)
  const current = currentMedications(services.db, request.patientId)
  const check = checkDrugs(services, [...request.drugs, ...currentDrugCodes(current)])
  if (!check) throw new RefusedError(`No warning can be acknowledged: ${services.knowledgeUnavailable ?? 'no knowledge base'}`)
  const byKey = new Map(check.warnings.map((w) => [warningKey(check, w), w]))
  const acknowledged = request.warningKeys.map((key) => {
    const warning = byKey.get(key)
    if (!warning) {
      throw new InvalidRequestError(`"${key}" is not a warning of this combination (its warnings: ${[...byKey.keys()].join(', ') || 'none'}).`, 'warningKeys')
    }
    if (warning.tier !== 'interrupt') throw new RefusedError(`"${key}" is a ${warning.severity} warning; only interrupting warnings are acknowledged.`)
    return {
      key,
      drugs: [check.drugs[warning.a]?.label ?? '', check.drugs[warning.b]?.label ?? ''],
      severity: warning.severity,
      sources: warningSources(warning)
    }
  })
  const createdAt = new Date().toISOString()
  const auditId = await recordAudit(services.db, {
    kind: 'warning-acknowledgement',
    patientId: patient.id,
    sourcePatientId: patient.sourcePatientId,
    inputsHash: createHash('sha256')
      .update(
        canonicalJson({ acknowledge: request.warningKeys, combination: request.combination, drugs: request.drugs, recommendation: request.recommendationAuditId })
      )
      .digest('hex'),
    modelId: null,
    modelVersion: null,
    outputs: { recommendationAuditId: request.recommendationAuditId, combination: request.combination, drugs: request.drugs, warnings: acknowledged },
    createdAt
  })
  return { auditId, createdAt, userName: describeActor(auditIdentity(services.db)) }
}

/** An acknowledgement cites the audited recommendation it answers, which must be this patient's. */
function citedRecommendation(services: MedrecServices, auditId: number, patientId: number): void {
  const row = services.db.prepare('SELECT kind, patient_id FROM audit_log WHERE id = ?').get(auditId) as { kind: string; patient_id: number | null } | undefined
  if (!row) throw new InvalidRequestError(`recommendationAuditId ${auditId}: no such audit entry; cite the recommendation whose warnings you read.`, 'recommendationAuditId')
  if (row.kind !== 'recommendation') {
    throw new InvalidRequestError(`recommendationAuditId ${auditId}: audit entry ${auditId} is of kind "${row.kind}", not a recommendation.`, 'recommendationAuditId')
  }
  if (row.patient_id !== patientId) {
    throw new RefusedError(`recommendationAuditId ${auditId}: that recommendation was for another patient; an acknowledgement must cite a recommendation of patient ${patientId}.`)
  }
}

export async function explainView(services: MedrecServices, request: ExplainRequest): Promise<ExplanationView> {
  const explanation = await explain(services.context(), request.patientId, {
    modelId: request.modelId ?? null,
    drugs: [request.atc3],
    threshold: request.threshold ?? undefined,
    codeDrugs: 1
  })
  return { explanation, members: services.knowledge()?.catalog.members(request.atc3) ?? [] }
}
