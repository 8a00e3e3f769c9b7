// The NLA-MMR cold-start graphs (inference/text/cold-start.ts) a service context keeps between calls; in its own
// module so that the service context can name it without importing the runner that uses the context.
import type { ProviderName } from '../inference/providers'
import { ColdStartModel } from '../inference/text/cold-start'
import type { RegisteredModel } from '../models/registry'

/**
 * The cold-start graph and text encoder of each model, loaded on first need and kept until close().
 *
 * Lazy, because the text encoder is a 90 MB ONNX graph (about a second to load with the cold-start graph)
 * that only patients with codes new to the model need: loading it with the registry would slow every start
 * and hold the memory for models and patients that never use it. Cached per model, because paying that
 * second on every recommendation and explanation would dwarf the millisecond the model itself takes.
 * Keyed by the registered model object, so a rescanned or re-provisioned registry gets a fresh load.
 */
export class ColdStartModels {
  private readonly loading = new Map<RegisteredModel, Promise<ColdStartModel>>()
  /** Milliseconds each model's cold-start load took (reported once, like a session's loadMs). */
  readonly loadMs = new Map<RegisteredModel, number>()

  get(model: RegisteredModel): Promise<ColdStartModel> {
    let pending = this.loading.get(model)
    if (!pending) {
      const started = performance.now()
      // The provider the model's own session got, with the CPU as the last resort.
      const providers = [...new Set<ProviderName>([model.session.provider.provider, 'cpu'])]
      pending = ColdStartModel.load(model.manifest, model.directory, providers).then((loaded) => {
        this.loadMs.set(model, performance.now() - started)
        return loaded
      })
      // A failed load is not cached: the next request tries again (and reports the error again).
      pending.catch(() => this.loading.delete(model))
      this.loading.set(model, pending)
    }
    return pending
  }

  async close(): Promise<void> {
    const pending = [...this.loading.values()]
    this.loading.clear()
    this.loadMs.clear()
    await Promise.all(pending.map((p) => p.then((loaded) => loaded.release(), () => undefined)))
  }
}
