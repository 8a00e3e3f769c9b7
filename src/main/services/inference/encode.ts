// Turns a patient's visits (codes as strings) into the model's padded index tensors, counting what the
// model cannot see: unknown codes (fed as index 1), codes past the per-visit limits, visits past maxVisits.
import type { CodeCounts, ModelInputSummary } from '../../../shared/domain/recommendation'
import type { ModelManifest } from '../../../shared/domain/manifest'
import { type CodeVocabulary, type ModelVocabularies, normalizeCode, UNKNOWN_INDEX } from './vocabulary'

export interface CodeRef {
  system: string | null
  code: string
}

/** One visit's codes. Medications are ATC3 classes (e.g. "N02B"). */
export interface VisitCodes {
  diagnoses: CodeRef[]
  procedures: CodeRef[]
  medications: string[]
}

/** The codes actually fed for one visit, as "SYSTEM|CODE" (medications: the ATC3 code), in input order. */
export interface FedVisit {
  diagnoses: string[]
  procedures: string[]
  medications: string[]
}

export interface EncodedPatient {
  /** [maxVisits × maxDiagnoses] indices, row-major, left-aligned visits. */
  diagnoses: BigInt64Array
  procedures: BigInt64Array
  medications: BigInt64Array
  /** [maxVisits]: 1 for a real visit. The last real visit is the current one. */
  visitMask: Float32Array
  /** What was fed, for the input hash and the explanation's per-code occlusion. */
  fed: FedVisit[]
  summary: Omit<ModelInputSummary, 'currentVisit' | 'unmappedMedications'>
}

export type ModelLimits = ModelManifest['limits']

const zeroCounts = (): CodeCounts => ({ diagnosis: 0, procedure: 0, medication: 0 })

export function codeKey(ref: CodeRef): string {
  return ref.system ? `${ref.system}|${normalizeCode(ref.code)}` : normalizeCode(ref.code)
}

/**
 * Encodes `visits` (oldest first; the last is the current visit, whose medications are not inputs: they are
 * what the model predicts). Keeps the most recent maxVisits visits; within a visit drops repeated codes and
 * keeps the first maxDiagnoses / maxProcedures / maxMedications.
 */
export function encodePatient(vocab: ModelVocabularies, limits: ModelLimits, visits: readonly VisitCodes[]): EncodedPatient {
  const { maxVisits, maxDiagnoses, maxProcedures, maxMedications } = limits
  const kept = visits.slice(-maxVisits)
  const encoded: EncodedPatient = {
    diagnoses: new BigInt64Array(maxVisits * maxDiagnoses),
    procedures: new BigInt64Array(maxVisits * maxProcedures),
    medications: new BigInt64Array(maxVisits * maxMedications),
    visitMask: new Float32Array(maxVisits),
    fed: [],
    summary: {
      visitsUsed: kept.length,
      visitsLeftOut: visits.length - kept.length,
      codesUsed: zeroCounts(),
      unknownCodes: zeroCounts(),
      unknownCodeList: [],
      truncatedCodes: zeroCounts()
    }
  }
  const unknownSeen = new Set<string>()
  const fill = (
    kind: keyof CodeCounts,
    refs: readonly CodeRef[],
    vocabulary: CodeVocabulary,
    target: BigInt64Array,
    offset: number,
    width: number
  ): string[] => {
    const keys: string[] = []
    for (const ref of refs) {
      const key = codeKey(ref)
      if (keys.includes(key)) continue
      if (keys.length === width) {
        encoded.summary.truncatedCodes[kind]++
        continue
      }
      const index = vocabulary.indexOf(ref.system, ref.code)
      target[offset + keys.length] = BigInt(index)
      keys.push(key)
      encoded.summary.codesUsed[kind]++
      if (index === UNKNOWN_INDEX) {
        encoded.summary.unknownCodes[kind]++
        if (!unknownSeen.has(`${kind}:${key}`)) {
          unknownSeen.add(`${kind}:${key}`)
          encoded.summary.unknownCodeList.push({ kind, system: ref.system, code: ref.code })
        }
      }
    }
    return keys
  }
  kept.forEach((visit, v) => {
    const isCurrent = v === kept.length - 1
    encoded.visitMask[v] = 1
    encoded.fed.push({
      diagnoses: fill('diagnosis', visit.diagnoses, vocab.diagnosis, encoded.diagnoses, v * maxDiagnoses, maxDiagnoses),
      procedures: fill('procedure', visit.procedures, vocab.procedure, encoded.procedures, v * maxProcedures, maxProcedures),
      medications: isCurrent
        ? []
        : fill(
            'medication',
            visit.medications.map((code) => ({ system: null, code })),
            vocab.medication,
            encoded.medications,
            v * maxMedications,
            maxMedications
          )
    })
  })
  return encoded
}

/** Whether the encoded input carries any code at all (an empty history cannot be recommended on). */
export function hasAnyCode(patient: EncodedPatient): boolean {
  const used = patient.summary.codesUsed
  return used.diagnosis + used.procedure + used.medication > 0
}
