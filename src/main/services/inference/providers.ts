// The one onnxruntime session factory (createSessionWithFallback: every session of every graph is created
// here) and the execution-provider choice with fallback. onnxruntime-node does not fall back by itself: asking for
// ['cuda', 'cpu'] on a machine without the CUDA provider libraries throws ("Failed to load shared
// library") instead of running on the CPU. So each accelerated provider is tried alone, and the CPU is
// the last resort, and the caller learns which one runs and why the others did not.
import type { ProviderReport } from '../../../shared/domain/manifest'
import ort from 'onnxruntime-node'

export type ProviderName = ProviderReport['provider']

const KNOWN_PROVIDERS: readonly ProviderName[] = ['cuda', 'dml', 'coreml', 'cpu']

/** CUDA on Linux, DirectML on Windows, CoreML on macOS, then the CPU. */
export function defaultProviderOrder(platform: NodeJS.Platform = process.platform): ProviderName[] {
  if (platform === 'linux') return ['cuda', 'cpu']
  if (platform === 'win32') return ['dml', 'cpu']
  if (platform === 'darwin') return ['coreml', 'cpu']
  return ['cpu']
}

/**
 * The order to try: the caller's, else MEDREC_EXECUTION_PROVIDERS (e.g. "cpu" or "cuda,cpu"), else the
 * platform default. The CPU is always appended so a session can always be created.
 */
export function providerOrder(requested?: readonly string[]): ProviderName[] {
  const fromEnv = process.env.MEDREC_EXECUTION_PROVIDERS?.split(',').map((p) => p.trim()).filter(Boolean)
  const order = requested ?? fromEnv ?? defaultProviderOrder()
  for (const name of order) {
    if (!KNOWN_PROVIDERS.includes(name as ProviderName)) {
      throw new Error(`Unknown execution provider "${name}" (known: ${KNOWN_PROVIDERS.join(', ')}).`)
    }
  }
  const unique = [...new Set(order as ProviderName[])]
  return unique.includes('cpu') ? unique : [...unique, 'cpu']
}

export interface SessionTuning {
  /** Threads for one operator; default: onnxruntime's (all cores). */
  intraOpNumThreads?: number
  /**
   * Let idle worker threads spin between runs (onnxruntime's default). Off by default here: spinning
   * threads compete with the app's own threads and with other programs, and on a busy 2-core machine a
   * 256-row run took about twice as long with spinning on.
   */
  allowSpinning?: boolean
}

let loggingConfigured = false

/**
 * onnxruntime's process-wide native logger prints a failed provider's error to stderr before the
 * exception reaches us; we report that error ourselves (ProviderReport.failed), so only fatal messages
 * are printed unless MEDREC_ORT_LOG_LEVEL asks for more ('verbose' | 'info' | 'warning' | 'error').
 * The level is fixed by the first session the process creates.
 */
function quietNativeLogging(): void {
  if (loggingConfigured) return
  loggingConfigured = true
  const requested = process.env.MEDREC_ORT_LOG_LEVEL
  const levels = ['verbose', 'info', 'warning', 'error', 'fatal'] as const
  ort.env.logLevel = levels.find((level) => level === requested) ?? 'fatal'
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  return text.split('\n')[0]?.trim() ?? text
}

/**
 * Creates a session from the model bytes (the very bytes whose hash was checked) on the first provider
 * in `order` that loads. Throws only when the CPU fails too, i.e. the model itself cannot be loaded.
 */
export async function createSessionWithFallback(
  modelBytes: Uint8Array,
  order: readonly ProviderName[],
  tuning: SessionTuning = {}
): Promise<{ session: ort.InferenceSession; report: ProviderReport }> {
  quietNativeLogging()
  const failed: ProviderReport['failed'] = []
  for (const provider of order) {
    try {
      const session = await ort.InferenceSession.create(modelBytes, {
        executionProviders: [provider],
        graphOptimizationLevel: 'all',
        ...(tuning.intraOpNumThreads ? { intraOpNumThreads: tuning.intraOpNumThreads } : {}),
        extra: { session: { intra_op: { allow_spinning: tuning.allowSpinning ? '1' : '0' } } }
      })
      return { session, report: { provider, failed } }
    } catch (error) {
      if (provider === 'cpu') throw error
      failed.push({ provider, error: firstLine(error) })
    }
  }
  throw new Error('No execution provider could be tried (the CPU was not in the list).')
}
