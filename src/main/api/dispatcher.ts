// Validates every call against the zod schemas in src/shared/api-schemas.ts before a handler
// runs, and turns every outcome into an ApiResponse. No electron import: ipc.ts, the e2e test host
// and the unit tests all go through this one path.
import { z } from 'zod'
import type { ApiArgs, ApiErrorPayload, ApiMethod, ApiResponse, ApiResult } from '../../shared/api'
import { apiArgSchemas } from '../../shared/api-schemas'

/** One function per API method; it receives arguments that already passed validation. */
export type ApiHandlers = { [M in ApiMethod]: (...args: ApiArgs<M>) => ApiResult<M> | Promise<ApiResult<M>> }

export interface ApiDispatcher {
  /** Runs one call from an untrusted caller: method and args are checked here. Never throws. */
  dispatch(method: string, args: unknown): Promise<ApiResponse>
}

export interface DispatcherOptions {
  /** Told about unexpected failures (the caller only sees the message); defaults to console.error. */
  onInternalError?: (method: ApiMethod, error: unknown) => void
}

const isApiMethod = (method: string): method is ApiMethod => Object.hasOwn(apiArgSchemas, method)

const failure = (code: ApiErrorPayload['code'], message: string): ApiResponse => ({ ok: false, error: { code, message } })

function expectedArgumentCount(schema: z.ZodType): number | null {
  return schema instanceof z.ZodTuple ? schema.def.items.length : null
}

/** "argument 1 (limit): Too big: expected number to be <=500" — names the argument and the field. */
function describeIssues(method: ApiMethod, args: unknown[], issues: z.core.$ZodIssue[]): string {
  const expected = expectedArgumentCount(apiArgSchemas[method])
  const parts = issues.map((issue) => {
    const [index, ...fieldPath] = issue.path
    if (index === undefined) {
      return expected === null
        ? issue.message
        : `expected ${expected} argument${expected === 1 ? '' : 's'}, got ${args.length}`
    }
    const field = fieldPath.length > 0 ? ` (${fieldPath.map(String).join('.')})` : ''
    return `argument ${Number(index) + 1}${field}: ${issue.message}`
  })
  return `Invalid arguments for ${method}: ${[...new Set(parts)].join('; ')}.`
}

function errorCodeOf(error: unknown): ApiErrorPayload['code'] {
  // Services signal a missing record with an Error named NotFoundError (see patients-repo.ts).
  return error instanceof Error && error.name === 'NotFoundError' ? 'not-found' : 'internal'
}

export function createApiDispatcher(handlers: ApiHandlers, options: DispatcherOptions = {}): ApiDispatcher {
  const reportInternal = options.onInternalError ?? ((method, error) => console.error(`[api] ${method} failed:`, error))
  return {
    async dispatch(method, args) {
      if (!isApiMethod(method)) return failure('unknown-method', `Unknown API method "${method}".`)
      if (!Array.isArray(args)) {
        return failure('invalid-arguments', `Invalid arguments for ${method}: expected a list of arguments, got ${typeof args}.`)
      }
      const parsed = apiArgSchemas[method].safeParse(args)
      if (!parsed.success) return failure('invalid-arguments', describeIssues(method, args, parsed.error.issues))
      const handler = handlers[method] as (...validArgs: unknown[]) => unknown
      try {
        return { ok: true, result: await handler(...(parsed.data as unknown[])) }
      } catch (error) {
        const code = errorCodeOf(error)
        if (code === 'internal') reportInternal(method, error)
        const message = error instanceof Error ? error.message : String(error)
        return failure(code, code === 'internal' ? `${method} failed: ${message}` : message)
      }
    }
  }
}
