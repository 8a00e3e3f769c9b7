// Per-code occlusion inputs built from the patient's encoded tensors instead of re-encoding the patient's
// visits once per code. Removing code c from every visit and encoding again (encode.ts) gives, in each
// visit that fed c, the same slots with c's slot taken out and the later slots shifted left; visits that did
// not feed c are unchanged. That holds exactly while no visit dropped codes past the per-visit limit (a
// freed slot would then take the first dropped code), so a patient with truncated codes of that kind is
// re-encoded the old way. `fed` is kept in step: the cold-start graph reads it.
import { type CodeRef, codeKey, type EncodedPatient, encodePatient, type FedVisit, type ModelLimits, type VisitCodes } from '../inference/encode'
import type { ModelVocabularies } from '../inference/vocabulary'

export type OccludedKind = 'diagnosis' | 'procedure' | 'medication'

export interface OccludedCode {
  kind: OccludedKind
  ref: CodeRef
  /** codeKey(ref), as FedVisit records it. */
  key: string
}

const tensorOf = { diagnosis: 'diagnoses', procedure: 'procedures', medication: 'medications' } as const
const widthOf = { diagnosis: 'maxDiagnoses', procedure: 'maxProcedures', medication: 'maxMedications' } as const

/** The visits with `code` removed from each (the reference definition of an occlusion). */
export function visitsWithout(visits: readonly VisitCodes[], code: OccludedCode): VisitCodes[] {
  return visits.map((visit) => ({
    diagnoses: code.kind === 'diagnosis' ? visit.diagnoses.filter((r) => codeKey(r) !== code.key) : visit.diagnoses,
    procedures: code.kind === 'procedure' ? visit.procedures.filter((r) => codeKey(r) !== code.key) : visit.procedures,
    medications: code.kind === 'medication' ? visit.medications.filter((m) => codeKey({ system: null, code: m }) !== code.key) : visit.medications
  }))
}

/** `encoded` with `code` removed from every visit, equal to encodePatient(vocab, limits, visitsWithout(visits, code)). */
export function occludeEncoded(
  vocab: ModelVocabularies,
  limits: ModelLimits,
  visits: readonly VisitCodes[],
  encoded: EncodedPatient,
  code: OccludedCode
): EncodedPatient {
  if (encoded.summary.truncatedCodes[code.kind] > 0) return encodePatient(vocab, limits, visitsWithout(visits, code))
  const tensor = tensorOf[code.kind]
  const width = limits[widthOf[code.kind]]
  const source = encoded[tensor]
  let copy: BigInt64Array | null = null
  const fed: FedVisit[] = encoded.fed.map((visit, v) => {
    const keys = visit[tensor]
    const slot = keys.indexOf(code.key)
    if (slot < 0) return visit
    copy ??= source.slice()
    const start = v * width
    // Shift the later slots of this visit left over the removed one; the last used slot becomes padding.
    copy.copyWithin(start + slot, start + slot + 1, start + keys.length)
    copy[start + keys.length - 1] = 0n
    return { ...visit, [tensor]: keys.filter((_, i) => i !== slot) }
  })
  if (copy === null) return encoded
  // The summary is the unoccluded patient's: occluded rows feed the model only, nothing reports them.
  return { ...encoded, [tensor]: copy, fed }
}

const tensorKey = (row: EncodedPatient): string =>
  `${Buffer.from(row.diagnoses.buffer, row.diagnoses.byteOffset, row.diagnoses.byteLength).toString('base64')}:` +
  `${Buffer.from(row.procedures.buffer, row.procedures.byteOffset, row.procedures.byteLength).toString('base64')}:` +
  `${Buffer.from(row.medications.buffer, row.medications.byteOffset, row.medications.byteLength).toString('base64')}`

/**
 * The occluded rows the model must run, without repeats: removing one of two neighbouring codes the model
 * does not know (both fed as 'unknown') gives the same tensors, and so does removing a code that only
 * appears past a visit's limit (the row equals the patient's own). Only for model.onnx, whose output depends
 * on the tensors alone (the cold-start graph also reads which codes were fed). `rowOf[i]`: the index in
 * `distinct` of occluded row i, or -1 when it equals `original` (its probabilities are the patient's own).
 */
export function distinctOccludedRows(original: EncodedPatient, occluded: readonly EncodedPatient[]): { distinct: EncodedPatient[]; rowOf: Int32Array } {
  const index = new Map<string, number>([[tensorKey(original), -1]])
  const distinct: EncodedPatient[] = []
  const rowOf = new Int32Array(occluded.length)
  occluded.forEach((row, i) => {
    // The visit mask never changes (occlusion keeps every visit), so the code tensors decide.
    const key = tensorKey(row)
    let at = index.get(key)
    if (at === undefined) {
      at = distinct.length
      distinct.push(row)
      index.set(key, at)
    }
    rowOf[i] = at
  })
  return { distinct, rowOf }
}
