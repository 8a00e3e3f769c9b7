// The API's method names at run time, and the shape of an answer. Kept free of zod and of the schemas so the
// sandboxed preload bundle and the renderer carry only this list: index.ts checks at compile time that it names
// exactly the methods the schemas define.
import type { ApiErrorPayload } from './errors'

export const API_CHANNEL_PREFIX = 'medrec:'

export const API_METHODS = [
  'app:info',
  'patients:list',
  'patients:timeline',
  'models:list',
  'models:card',
  'settings:get',
  'settings:update',
  'recommend:run',
  'recommend:acknowledge',
  'explain:drug',
  'drugs:molecules',
  'drugs:search',
  'review:check',
  'review:submit',
  'review:history',
  'evaluate:start',
  'evaluate:status',
  'interop:fhir-export',
  'interop:cds-status',
  'interop:cds-start',
  'interop:cds-stop',
  'imports:fhir-plan',
  'imports:fhir-run'
] as const

export type ApiMethodName = (typeof API_METHODS)[number]

/** What the main process (or the e2e test host) sends back for one call; the client unwraps it. */
export type ApiResponse<T = unknown> = { ok: true; result: T } | { ok: false; error: ApiErrorPayload }
