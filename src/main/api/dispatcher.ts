// Validates every call against the zod schemas in src/shared/api/<domain>.ts before a handler
// runs, and turns every outcome into an ApiResponse. No electron import: ipc.ts, the e2e test host
// and the unit tests all go through this one path.
import type { ApiResponse } from '../../shared/api/methods'
import type { ApiErrorPayload } from '../../shared/api/errors'
import { apiArgSchemas } from '../../shared/api'
import type { ApiArgs, ApiMethod, ApiResult } from '../../shared/api'
import { z } from 'zod'

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

const failure = (code: ApiErrorPayload['code'], message: string, field?: string): ApiResponse => ({
  ok: false,
  error: field === undefined ? { code, message } : { code, message, field }
})

/** "1 argument", or "1 to 2 arguments" where trailing arguments are optional. */
function expectedArguments(schema: z.ZodType): string | null {
  if (!(schema instanceof z.ZodTuple)) return null
  const items = schema.def.items
  const most = items.length
  const required = items.filter((item) => !(item instanceof z.ZodOptional)).length
  return required === most ? `${most} argument${most === 1 ? '' : 's'}` : `${required} to ${most} arguments`
}

/** "argument 1 (limit): Too big: expected number to be <=500" — names the argument and the field. */
function describeIssues(method: ApiMethod, args: unknown[], issues: z.core.$ZodIssue[]): string {
  const expected = expectedArguments(apiArgSchemas[method])
  const parts = issues.map((issue) => {
    const [index, ...fieldPath] = issue.path
    if (index === undefined) {
      return expected === null
        ? issue.message
        : `expected ${expected}, got ${args.length}`
    }
    const field = fieldPath.length > 0 ? ` (${fieldPath.map(String).join('.')})` : ''
    // zod says "Invalid input: expected number, received undefined" for a field that is simply absent.
    const missing = /^Invalid input: expected (\w+), received undefined$/.exec(issue.message)
    return `argument ${Number(index) + 1}${field}: ${missing ? `missing (expected ${missing[1]})` : issue.message}`
  })
  return `Invalid arguments for ${method}: ${[...new Set(parts)].join('; ')}.`
}

/**
 * Services signal what went wrong by the error's name (services/errors.ts, and the domain errors below), so
 * they never import the API. Anything not listed is a real fault.
 */
const CODE_OF_ERROR_NAME: Record<string, ApiErrorPayload['code']> = {
  InvalidRequestError: 'invalid',
  UnknownDrugError: 'invalid', // a drug, class or code nobody knows, named by the caller
  NotFoundError: 'not-found',
  RefusedError: 'refused',
  EmptyHistoryError: 'refused', // a patient without codes: nothing to recommend from
  DdiUnavailableError: 'refused' // DDI-safe decoding asked for without a knowledge base
}

/** "argument 1 (ddiSafe.maxDdiRate)": the first field the schema refused. */
function firstField(issues: z.core.$ZodIssue[]): string | undefined {
  const path = issues[0]?.path
  if (!path || path.length === 0) return undefined
  const [index, ...rest] = path
  return `argument ${Number(index) + 1}${rest.length > 0 ? ` (${rest.map(String).join('.')})` : ''}`
}

function errorCodeOf(error: unknown): ApiErrorPayload['code'] {
  return (error instanceof Error && CODE_OF_ERROR_NAME[error.name]) || 'internal'
}

function fieldOf(error: unknown): string | undefined {
  const field = (error as { field?: unknown } | null)?.field
  return typeof field === 'string' ? field : undefined
}

export function createApiDispatcher(handlers: ApiHandlers, options: DispatcherOptions = {}): ApiDispatcher {
  const reportInternal = options.onInternalError ?? ((method, error) => console.error(`[api] ${method} failed:`, error))
  return {
    async dispatch(method, args) {
      if (!isApiMethod(method)) return failure('unknown-method', `Unknown API method "${method}".`)
      if (!Array.isArray(args)) {
        return failure('invalid', `Invalid arguments for ${method}: expected a list of arguments, got ${typeof args}.`)
      }
      const parsed = apiArgSchemas[method].safeParse(args)
      if (!parsed.success) return failure('invalid', describeIssues(method, args, parsed.error.issues), firstField(parsed.error.issues))
      const handler = handlers[method] as (...validArgs: unknown[]) => unknown
      try {
        return { ok: true, result: await handler(...(parsed.data as unknown[])) }
      } catch (error) {
        const code = errorCodeOf(error)
        if (code === 'internal') reportInternal(method, error)
        const message = error instanceof Error ? error.message : String(error)
        return failure(code, code === 'internal' ? `${method} failed: ${message}` : message, code === 'invalid' ? fieldOf(error) : undefined)
      }
    }
  }
}
