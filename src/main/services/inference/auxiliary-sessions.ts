// Sessions of the secondary ONNX graphs a model folder ships beside model.onnx (CafeMed's causal-weights.onnx),
// created through the one session factory (providers.ts: the model's own provider, the CPU as last resort) and
// owned by the registered model, so ModelRegistry.close() releases them with the model's main session.
import type ort from 'onnxruntime-node'
import { createSessionWithFallback, type ProviderName } from './providers'

/** Graphs kept per model: a few (file, sha256) versions, least recently used dropped first. */
const KEPT_SESSIONS = 4

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
