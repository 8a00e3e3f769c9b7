// The one API contract between renderer and main. ipc.ts, preload and the renderer are typed from it,
// and ipc.ts validates every argument with the zod schemas in src/shared/api-schemas.ts.
import type { AppInfo, PatientPage, PatientTimeline } from './types'
import { EVALUATE_API_METHODS, type EvaluateApiMethods } from './evaluate-api'
import { WORKSPACE_API_METHODS, type WorkspaceApiMethods } from './workspace-api'
import type { CdsHooksApiMethods } from './api/cds-hooks'
import type { ImportsApiMethods } from './api/imports'

export interface ApiMethods extends WorkspaceApiMethods, EvaluateApiMethods, ImportsApiMethods, CdsHooksApiMethods {
  'app:info': { args: []; result: AppInfo }
  'patients:list': { args: [query: { search?: string; offset: number; limit: number }]; result: PatientPage }
  'patients:timeline': { args: [patientId: number]; result: PatientTimeline }
  /** A recommendation (and the latest pharmacist review) as a FHIR R4 Bundle (services/interop/fhir-export.ts). */
  'interop:fhir-export': { args: [request: { patientId: number; includeReview?: boolean }]; result: { resourceType: 'Bundle' } & Record<string, unknown> }
}

export type ApiMethod = keyof ApiMethods
export type ApiArgs<M extends ApiMethod> = ApiMethods[M]['args']
export type ApiResult<M extends ApiMethod> = ApiMethods[M]['result']

/** What preload exposes as window.api: one async function per method. */
export type MedrecApi = { [M in ApiMethod]: (...args: ApiArgs<M>) => Promise<ApiResult<M>> }

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

export const API_CHANNEL_PREFIX = 'medrec:'

/** What the main process (or the e2e test host) sends back for one call; the client unwraps it. */
export type ApiResponse<T = unknown> = { ok: true; result: T } | { ok: false; error: ApiErrorPayload }

/**
 * The method names at runtime: preload builds window.api from this list and ipc.ts registers one
 * handler per entry. Add a new method here too; the check below fails to compile until you do.
 */
export const API_METHODS = [
  'app:info',
  'patients:list',
  'patients:timeline',
  'interop:fhir-export',
  ...WORKSPACE_API_METHODS,
  ...EVALUATE_API_METHODS,
  // Listed here, not imported: preload bundles this file, and the domain files hold zod schemas.
  'imports:fhir-plan',
  'imports:fhir-run',
  'interop:cds-status',
  'interop:cds-start',
  'interop:cds-stop'
] as const satisfies readonly ApiMethod[]
type MethodsMissingFromList = Exclude<ApiMethod, (typeof API_METHODS)[number]>
const _everyMethodListed: [MethodsMissingFromList] extends [never] ? true : MethodsMissingFromList = true
