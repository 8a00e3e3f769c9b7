// Pharmacist review of a proposed prescription: DDI checks among the proposed drugs and against the
// current medications, the model's view of each proposed drug (expected, possible, unusual for this
// patient) and of classes it expects but nobody proposed, then a decision on every warning (accept: the
// prescription will be changed; override: proceed, with a reason). Each submitted review is one entry of
// the append-only audit log (kind 'review'), which is also the per-patient review history.
import { canonicalJson } from '../canonical-json'
import type { ReviewCheckRequest, ReviewSubmission } from '../../../shared/api/review'
import type { ProposedDrugAssessment, ProposedDrugFlag, ReviewCheck, ReviewOutcome, ReviewRecord, ReviewWarningView } from '../../../shared/domain/review'
import type { DdiCheckResult } from '../../../shared/domain/interaction'
import { createHash } from 'node:crypto'
import { recordAudit, auditIdentity, describeActor } from '../audit/audit'
import type { Db } from '../db/database'
import { getPatientSummary } from '../db/patients-repo'
import { recommend } from '../recommend/recommend'
import { currentMedicationInputs, currentMedications } from '../recommend/current-medications'
import { InvalidRequestError, RefusedError } from '../errors'
import { splitResolvable, warningKey, warningSources } from '../interactions/warning-keys'
import type { MedrecServices } from '../open-services'

/** A proposed drug is "unusual" for this patient when the model gives its class less than this share of the threshold. */
export const UNUSUAL_SHARE_OF_THRESHOLD = 0.2
const MEMBERS_SHOWN_PER_EVIDENCE = 6
const MAX_LIKELY_MISSING = 10

function flagFor(probability: number | null, threshold: number): ProposedDrugFlag {
  if (probability === null) return 'not-in-model'
  if (probability >= threshold) return 'expected'
  return probability < threshold * UNUSUAL_SHARE_OF_THRESHOLD ? 'unusual' : 'possible'
}

/**
 * Checks a proposed prescription. Each check is audited (kind 'review-check': what was proposed, the warnings
 * shown, the model's flags); a submitted review checks again without a second entry.
 */
export async function checkReview(services: MedrecServices, request: ReviewCheckRequest, options: { audit?: boolean } = {}): Promise<ReviewCheck> {
  const patient = getPatientSummary(services.db, request.patientId)
  const knowledge = services.knowledge()
  const proposedInputs = [...new Set(request.proposed.map((p) => p.trim()).filter(Boolean))]
  const current = currentMedications(services.db, request.patientId)
  const currentInputsAll = currentMedicationInputs(current)

  let ddi: DdiCheckResult | null = null
  let notChecked: ReviewCheck['notChecked'] = []
  let warnings: ReviewWarningView[] = []
  const labelOf = new Map<string, { label: string; atcCodes: string[]; kind: string }>()
  if (knowledge) {
    const proposedSplit = splitResolvable(knowledge.ddi, proposedInputs)
    const firstUnknown = proposedSplit.unknown[0]
    if (firstUnknown) throw new InvalidRequestError(`Proposed drug ${firstUnknown.reason}`, `proposed[${proposedInputs.indexOf(firstUnknown.input)}]`)
    const currentSplit = splitResolvable(knowledge.ddi, currentInputsAll)
    notChecked = currentSplit.unknown
    const check = knowledge.ddi.check([...proposedInputs, ...currentSplit.known], { maxMembers: MEMBERS_SHOWN_PER_EVIDENCE })
    const proposedSet = new Set(proposedInputs)
    const role = (index: number): 'proposed' | 'current' => (proposedSet.has(check.drugs[index]?.input ?? '') ? 'proposed' : 'current')
    ddi = check
    warnings = check.warnings.map((w) => {
      const roles: ReviewWarningView['roles'] = [role(w.a), role(w.b)]
      return {
        key: warningKey(check, w),
        drugs: [check.drugs[w.a]?.label ?? '', check.drugs[w.b]?.label ?? ''],
        roles,
        severity: w.severity,
        tier: w.tier,
        // Warnings between two current medications are shown but not decided here: this prescription does not change them.
        decisionRequired: w.tier !== 'details' && roles.includes('proposed')
      }
    })
    for (const drug of check.drugs) labelOf.set(drug.input, { label: drug.label, atcCodes: drug.atcCodes, kind: drug.kind })
  }

  // The model's view: every class's probability for this patient (not audited: the review is, on submit).
  let model: ReviewCheck['model'] = null
  let modelError: string | null = null
  let probabilities = new Map<string, number>()
  let combination: string[] = []
  let drugsByClass = new Map<string, Array<{ atc5: string; name: string | null }>>()
  try {
    const result = await recommend(services.context(), request.patientId, {
      modelId: request.modelId ?? null,
      threshold: request.threshold ?? undefined,
      audit: false
    })
    probabilities = new Map(result.drugs.map((d) => [d.atc3, d.probability]))
    combination = result.combination
    drugsByClass = new Map(result.classes.map((c) => [c.atc3, c.drugs.map((d) => ({ atc5: d.atc5, name: d.name }))]))
    model = { ...result.model, threshold: result.threshold, unusualBelow: result.threshold * UNUSUAL_SHARE_OF_THRESHOLD }
  } catch (error) {
    modelError = error instanceof Error ? error.message : String(error)
  }

  const currentAtc5 = new Set(current.classes.flatMap((c) => c.drugs.map((d) => d.atc5?.toUpperCase()).filter((c): c is string => !!c)))
  const currentClasses = new Set(current.classes.map((c) => c.atc3))
  const proposed: ProposedDrugAssessment[] = proposedInputs.map((input) => {
    const resolved = labelOf.get(input)
    const upper = input.toUpperCase()
    const atcCodes = resolved?.atcCodes ?? (/^[A-Z]\d\d[A-Z]([A-Z]\d\d)?$/.test(upper) ? [upper] : [])
    const atc3 = [...new Set(atcCodes.map((c) => c.slice(0, 4)))]
    const scored = atc3.map((c) => probabilities.get(c)).filter((p): p is number => p !== undefined)
    const probability = scored.length > 0 ? Math.max(...scored) : null
    const isClass = resolved?.kind === 'atc3' || upper.length === 4
    return {
      input,
      label: resolved?.label ?? input,
      atcCodes,
      atc3,
      probability,
      flag: model ? flagFor(probability, model.threshold) : 'no-model',
      alreadyTaking: isClass ? atc3.some((c) => currentClasses.has(c)) : atcCodes.some((c) => currentAtc5.has(c))
    }
  })
  const covered = new Set([...proposed.flatMap((p) => p.atc3), ...currentClasses])
  const catalog = knowledge?.catalog ?? null
  const likelyMissing = combination
    .filter((c) => !covered.has(c))
    .slice(0, MAX_LIKELY_MISSING)
    .map((atc3) => ({ atc3, name: catalog?.name(atc3) ?? null, probability: probabilities.get(atc3) ?? 0, drugs: drugsByClass.get(atc3) ?? [] }))

  const result: ReviewCheck = {
    patientId: patient.id,
    sourcePatientId: patient.sourcePatientId,
    proposed,
    currentMedications: current,
    notChecked,
    ddi,
    ddiUnavailable: services.knowledgeUnavailable,
    warnings,
    likelyMissing,
    model,
    modelError
  }
  if (options.audit ?? true) {
    await recordAudit(services.db, {
      kind: 'review-check',
      patientId: patient.id,
      sourcePatientId: patient.sourcePatientId,
      inputsHash: createHash('sha256').update(canonicalJson({ reviewCheck: proposedInputs, current: currentInputsAll })).digest('hex'),
      modelId: model?.id ?? null,
      modelVersion: model?.version ?? null,
      outputs: {
        proposed: proposed.map((p) => ({ input: p.input, label: p.label, flag: p.flag, probability: p.probability })),
        warnings: warnings.map((w) => ({ key: w.key, severity: w.severity, tier: w.tier })),
        likelyMissing: likelyMissing.map((m) => m.atc3),
        modelError
      }
    })
  }
  return result
}

function outcomeOf(decisions: ReviewRecord['decisions']): ReviewOutcome {
  if (decisions.some((d) => d.action === 'accept')) return 'changes-required'
  return decisions.some((d) => d.action === 'override') ? 'approved-with-overrides' : 'approved'
}

/**
 * Checks the prescription again (so the record holds what the services say, not what a client sent),
 * requires a decision on every interrupting and inline warning, and appends the review to the audit log.
 */
export async function submitReview(services: MedrecServices, submission: ReviewSubmission): Promise<ReviewRecord> {
  const check = await checkReview(services, submission, { audit: false })
  if (!check.ddi) throw new RefusedError(`The review cannot be recorded without interaction checks: ${check.ddiUnavailable ?? 'no knowledge base'}`)
  const byKey = new Map(check.warnings.map((w, i) => [w.key, { view: w, warning: check.ddi!.warnings[i]! }]))
  for (const decision of submission.decisions) {
    if (!byKey.has(decision.warningKey)) {
      throw new InvalidRequestError(
        `Decision for "${decision.warningKey}", which is not a warning of this prescription (its warnings: ${[...byKey.keys()].join(', ') || 'none'}). Check the prescription again.`,
        `decisions[${submission.decisions.indexOf(decision)}].warningKey`
      )
    }
  }
  const decided = new Set(submission.decisions.map((d) => d.warningKey))
  const missing = check.warnings.filter((w) => w.decisionRequired && !decided.has(w.key))
  if (missing.length > 0) {
    throw new RefusedError(
      `A decision (accept or override with a reason) is required for every major and moderate warning; missing: ${missing.map((w) => `${w.key} (${w.severity})`).join(', ')}.`
    )
  }
  const decisions: ReviewRecord['decisions'] = submission.decisions.map((decision) => {
    const { view, warning } = byKey.get(decision.warningKey)!
    return {
      warningKey: decision.warningKey,
      action: decision.action,
      ...(decision.action === 'override' ? { reason: decision.reason, reasonText: decision.reasonText?.trim() || undefined } : {}),
      drugs: view.drugs,
      severity: view.severity,
      tier: view.tier,
      sources: warningSources(warning)
    }
  })
  const userName = describeActor(auditIdentity(services.db))
  const createdAt = new Date().toISOString()
  const record: Omit<ReviewRecord, 'auditId'> = {
    createdAt,
    userName,
    patientId: check.patientId,
    sourcePatientId: check.sourcePatientId,
    proposed: check.proposed.map((p) => ({ input: p.input, label: p.label, flag: p.flag, probability: p.probability })),
    outcome: outcomeOf(decisions),
    decisions,
    likelyMissing: check.likelyMissing.map((m) => m.atc3),
    note: submission.note?.trim() || null,
    model: check.model ? { id: check.model.id, version: check.model.version } : null
  }
  const auditId = await recordAudit(services.db, {
    kind: 'review',
    patientId: check.patientId,
    sourcePatientId: check.sourcePatientId,
    inputsHash: createHash('sha256')
      .update(canonicalJson({ review: check.proposed.map((p) => p.input), current: currentMedicationInputs(check.currentMedications), decisions: submission.decisions }))
      .digest('hex'),
    modelId: check.model?.id ?? null,
    modelVersion: check.model?.version ?? null,
    // The full check as shown goes with the decisions, so the record stands on its own.
    outputs: { record, check: { warnings: check.ddi.warnings, statement: check.ddi.statement, checkedSources: check.ddi.checkedSources, notChecked: check.notChecked } },
    createdAt
  })
  return { auditId, ...record }
}

/** A patient's recorded reviews, most recent first. */
export function reviewHistory(db: Db, patientId: number, limit = 100): ReviewRecord[] {
  getPatientSummary(db, patientId)
  const rows = db
    .prepare(`SELECT id, outputs_json FROM audit_log WHERE patient_id = ? AND kind = 'review' ORDER BY id DESC LIMIT ?`)
    .all(patientId, limit) as Array<{ id: number; outputs_json: string }>
  return rows.map((row) => ({ auditId: row.id, ...(JSON.parse(row.outputs_json) as { record: Omit<ReviewRecord, 'auditId'> }).record }))
}
