// The renderer's only way to the app: window.api (exposed by preload, or by the e2e test host).
import { readApiError } from '../../shared/api/errors'
import type { MedrecApi } from '../../shared/api'

export function api(): MedrecApi {
  return window.api
}

/** The plain message of a failed API call, for showing to the user. */
export function errorText(error: unknown): string {
  return readApiError(error).message
}
