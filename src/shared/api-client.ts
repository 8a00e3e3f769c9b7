// Builds a MedrecApi (window.api) from a transport that carries one call to the main process and
// brings back its ApiResponse. Preload uses it over IPC, the e2e test host over HTTP, so the
// renderer sees the same behaviour in both.
import { API_METHODS, type ApiErrorPayload, type ApiMethod, type ApiResponse, type MedrecApi } from './api'

export type ApiTransport = (method: ApiMethod, args: unknown[]) => Promise<ApiResponse>

const ERROR_CODES: readonly ApiErrorPayload['code'][] = ['invalid', 'not-found', 'refused', 'unknown-method', 'internal']

/**
 * The Error a failed call rejects with. contextBridge copies only an Error's message across the
 * isolation boundary, so the code travels inside it as a "[code] " prefix; readApiError recovers it.
 */
export function errorFromPayload(payload: ApiErrorPayload): Error {
  const error = new Error(`[${payload.code}] ${payload.message}`)
  error.name = 'ApiError'
  return error
}

/** The code and plain message of anything a window.api call rejected with. */
export function readApiError(error: unknown): ApiErrorPayload {
  const text = error instanceof Error ? error.message : String(error)
  const match = /\[([a-z-]+)\] ([\s\S]*)$/.exec(text)
  const code = match?.[1] as ApiErrorPayload['code'] | undefined
  if (match && code && ERROR_CODES.includes(code)) return { code, message: match[2] ?? '' }
  return { code: 'internal', message: text }
}

export function createApiClient(transport: ApiTransport): MedrecApi {
  const call = async (method: ApiMethod, args: unknown[]): Promise<unknown> => {
    let response: ApiResponse
    try {
      response = await transport(method, args)
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      throw errorFromPayload({ code: 'internal', message: `${method}: no answer from the app's main process (${reason}).` })
    }
    if (response.ok) return response.result
    throw errorFromPayload(response.error)
  }
  const api: Record<string, (...args: unknown[]) => Promise<unknown>> = {}
  for (const method of API_METHODS) api[method] = (...args: unknown[]) => call(method, args)
  return api as unknown as MedrecApi
}
