// Sessions of the secondary ONNX graphs a model folder ships beside model.onnx (CafeMed's causal-weights.onnx),
// created through the one session factory (providers.ts: the model's own provider, the CPU as last resort) and
// owned by the registered model, so ModelRegistry.close() releases them with the model's main session.
import ort from 'onnxruntime-node'
import type { EncodedPatient, ModelLimits } from './encode'
import { createSessionWithFallback, type ProviderName } from './providers'

/** Graphs kept per model: a few (file, sha256) versions, least recently used dropped first. */
const KEPT_SESSIONS = 4

export type AuxiliarySession = ort.InferenceSession

/**
 * Runs a secondary graph that takes the model's own five inputs, for one encoded patient with every modality
 * present, and returns the named float32 outputs (null for an output that is absent or not float32).
 */
export async function runForPatient(
  session: AuxiliarySession,
  limits: ModelLimits,
  modalityCount: number,
  patient: EncodedPatient,
  outputNames: readonly string[]
): Promise<Record<string, Float32Array | null>> {
  const { maxVisits, maxDiagnoses, maxProcedures, maxMedications } = limits
  const outputs = await session.run(
    {
      diagnoses: new ort.Tensor('int64', patient.diagnoses, [1, maxVisits, maxDiagnoses]),
      procedures: new ort.Tensor('int64', patient.procedures, [1, maxVisits, maxProcedures]),
      medications: new ort.Tensor('int64', patient.medications, [1, maxVisits, maxMedications]),
      visit_mask: new ort.Tensor('float32', patient.visitMask, [1, maxVisits]),
      modality_mask: new ort.Tensor('float32', new Float32Array(modalityCount).fill(1), [1, modalityCount])
    },
    [...outputNames]
  )
  return Object.fromEntries(outputNames.map((name) => [name, outputs[name]?.data instanceof Float32Array ? (outputs[name].data as Float32Array) : null]))
}

export class AuxiliarySessions {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>()

  constructor(private readonly providers: readonly ProviderName[]) {}

  /**
   * The session of `bytes`, keyed by the file and its verified sha256 (a changed file misses and loads anew).
   * A failed load is not kept: the next call tries again and reports the error again.
   */
  get(key: string, bytes: Uint8Array): Promise<ort.InferenceSession> {
    const found = this.sessions.get(key)
    if (found) {
      this.sessions.delete(key) // most recently used last
      this.sessions.set(key, found)
      return found
    }
    const creating = createSessionWithFallback(bytes, this.providers).then(({ session }) => session)
    creating.catch(() => this.sessions.delete(key))
    this.sessions.set(key, creating)
    while (this.sessions.size > KEPT_SESSIONS) {
      const [oldestKey, oldest] = this.sessions.entries().next().value as [string, Promise<ort.InferenceSession>]
      this.sessions.delete(oldestKey)
      void oldest.then((session) => session.release()).catch(() => undefined)
    }
    return creating
  }

  async release(): Promise<void> {
    const pending = [...this.sessions.values()]
    this.sessions.clear()
    await Promise.all(pending.map((p) => p.then((session) => session.release(), () => undefined)))
  }
}
