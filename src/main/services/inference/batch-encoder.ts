// Encodes a batch of patients straight into the model's input tensors, allocated once and reused for every
// batch, instead of one set of arrays per patient copied into the batch afterwards. Same rules as
// encodePatient (encode.ts), which stays the one definition and which a test checks this against: the most
// recent maxVisits visits, left-aligned; repeated codes within a visit dropped, the first maxDiagnoses /
// maxProcedures / maxMedications kept; the current (last) visit's medications are not inputs. Each distinct
// raw code is looked up (normalised, matched against the vocabulary) once per vocabulary, not once per use.
import type { CodeRef, ModelLimits, VisitCodes } from './encode'
import { codeKey } from './encode'
import type { CodeVocabulary, ModelVocabularies } from './vocabulary'

interface LookedUp {
  /** codeKey(ref): what de-duplication within a visit compares. */
  key: string
  index: bigint
}

/** Codes memoised per vocabulary at most (a few MB); past it the memo starts over. */
const MAX_MEMOISED_CODES = 200_000

class MemoVocabulary {
  /** By system (null: a code without one), then raw code: no key string built per lookup. */
  private readonly known = new Map<string | null, Map<string, LookedUp>>()
  private size = 0
  constructor(private readonly vocabulary: CodeVocabulary) {}

  lookUp(system: string | null, code: string): LookedUp {
    if (this.size >= MAX_MEMOISED_CODES) {
      this.known.clear()
      this.size = 0
    }
    let bySystem = this.known.get(system)
    if (!bySystem) {
      bySystem = new Map()
      this.known.set(system, bySystem)
    }
    let found = bySystem.get(code)
    if (!found) {
      const ref: CodeRef = { system, code }
      found = { key: codeKey(ref), index: BigInt(this.vocabulary.indexOf(system, code)) }
      bySystem.set(code, found)
      this.size++
    }
    return found
  }
}

/**
 * One memo per vocabulary for the process, shared by every encoder of the model: the lookups are pure, and a
 * batch scoring run builds an encoder per call, which otherwise started each call with nothing memoised.
 */
const memos = new WeakMap<CodeVocabulary, MemoVocabulary>()
function memoOf(vocabulary: CodeVocabulary): MemoVocabulary {
  let memo = memos.get(vocabulary)
  if (!memo) {
    memo = new MemoVocabulary(vocabulary)
    memos.set(vocabulary, memo)
  }
  return memo
}

export class BatchEncoder {
  readonly diagnoses: BigInt64Array
  readonly procedures: BigInt64Array
  readonly medications: BigInt64Array
  readonly visitMask: Float32Array
  private readonly vocab: { diagnosis: MemoVocabulary; procedure: MemoVocabulary; medication: MemoVocabulary }
  /** Keys fed in the visit being encoded (reused; de-duplication within a visit). */
  private readonly keys: string[] = []

  constructor(
    vocab: ModelVocabularies,
    readonly limits: ModelLimits,
    /** Rows the tensors hold. */
    readonly capacity: number
  ) {
    const { maxVisits, maxDiagnoses, maxProcedures, maxMedications } = limits
    this.diagnoses = new BigInt64Array(capacity * maxVisits * maxDiagnoses)
    this.procedures = new BigInt64Array(capacity * maxVisits * maxProcedures)
    this.medications = new BigInt64Array(capacity * maxVisits * maxMedications)
    this.visitMask = new Float32Array(capacity * maxVisits)
    this.vocab = { diagnosis: memoOf(vocab.diagnosis), procedure: memoOf(vocab.procedure), medication: memoOf(vocab.medication) }
  }

  /** Clears rows [0, rows) (padding is index 0 and mask 0). */
  clear(rows: number): void {
    const { maxVisits, maxDiagnoses, maxProcedures, maxMedications } = this.limits
    this.diagnoses.fill(0n, 0, rows * maxVisits * maxDiagnoses)
    this.procedures.fill(0n, 0, rows * maxVisits * maxProcedures)
    this.medications.fill(0n, 0, rows * maxVisits * maxMedications)
    this.visitMask.fill(0, 0, rows * maxVisits)
  }

  /** Clears one row. */
  clearRow(row: number): void {
    const { maxVisits, maxDiagnoses, maxProcedures, maxMedications } = this.limits
    this.diagnoses.fill(0n, row * maxVisits * maxDiagnoses, (row + 1) * maxVisits * maxDiagnoses)
    this.procedures.fill(0n, row * maxVisits * maxProcedures, (row + 1) * maxVisits * maxProcedures)
    this.medications.fill(0n, row * maxVisits * maxMedications, (row + 1) * maxVisits * maxMedications)
    this.visitMask.fill(0, row * maxVisits, (row + 1) * maxVisits)
  }

  /** Writes `visits` into row `row` (cleared beforehand); returns how many codes were fed. */
  encode(row: number, visits: readonly VisitCodes[]): number {
    if (row < 0 || row >= this.capacity) throw new RangeError(`Row ${row} is outside the encoder's ${this.capacity} rows.`)
    const { maxVisits, maxDiagnoses, maxProcedures, maxMedications } = this.limits
    const first = Math.max(0, visits.length - maxVisits)
    const kept = visits.length - first
    let fed = 0
    for (let v = 0; v < kept; v++) {
      const visit = visits[first + v]!
      const slot = row * maxVisits + v
      this.visitMask[slot] = 1
      fed += this.fill(this.vocab.diagnosis, visit.diagnoses, this.diagnoses, slot * maxDiagnoses, maxDiagnoses)
      fed += this.fill(this.vocab.procedure, visit.procedures, this.procedures, slot * maxProcedures, maxProcedures)
      if (v < kept - 1) {
        const keys = this.keys
        keys.length = 0
        const offset = slot * maxMedications
        for (const code of visit.medications) {
          if (keys.length === maxMedications) break
          const found = this.vocab.medication.lookUp(null, code)
          if (keys.includes(found.key)) continue
          this.medications[offset + keys.length] = found.index
          keys.push(found.key)
        }
        fed += keys.length
      }
    }
    return fed
  }

  private fill(vocabulary: MemoVocabulary, refs: readonly CodeRef[], target: BigInt64Array, offset: number, width: number): number {
    const keys = this.keys
    keys.length = 0
    for (const ref of refs) {
      if (keys.length === width) break // the rest is truncated (encodePatient counts it; scores do not need the count)
      const found = vocabulary.lookUp(ref.system, ref.code)
      if (keys.includes(found.key)) continue
      target[offset + keys.length] = found.index
      keys.push(found.key)
    }
    return keys.length
  }
}
