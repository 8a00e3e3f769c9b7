// How a failed call crosses the process boundary, and how the renderer reads it back.

/**
 * Errors cross the IPC boundary as this shape so the renderer can show a clear message. 'invalid': the
 * caller's mistake (with the field when one is at fault); 'not-found': the thing asked for does not exist;
 * 'refused': a well-formed request a rule forbids (a refused model, a review without interaction checks);
 * 'internal': only a real fault of the app.
 */
export interface ApiErrorPayload {
  code: 'invalid' | 'not-found' | 'refused' | 'unknown-method' | 'internal'
  message: string
  /** For 'invalid': the argument field at fault, e.g. "argument 1 (patientId)" or "recommendationAuditId". */
  field?: string
}

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
