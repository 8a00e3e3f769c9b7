// Builds a MedrecApi (window.api) from a transport that carries one call to the main process and
// brings back its ApiResponse. Preload uses it over IPC, the e2e test host over HTTP, so the
// renderer sees the same behaviour in both.
import { errorFromPayload } from './errors'
import type { ApiMethod, MedrecApi } from '.'
import { API_METHODS, type ApiResponse } from './methods'

export type ApiTransport = (method: ApiMethod, args: unknown[]) => Promise<ApiResponse>

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
