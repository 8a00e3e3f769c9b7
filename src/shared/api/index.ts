// The one API contract between renderer and main: the union of the domains' maps. Each domain file holds its
// methods' zod schemas (the dispatcher validates every call with them before a service runs) and the argument
// types are inferred from those schemas, so types and validation cannot drift. Results are the domain types
// (src/shared/domain). Add a method: its schema and result in the domain's file, its name in methods.ts, its
// handler in src/main/api/handlers/<domain>.ts — the compile-time checks below fail until all three agree.
import type { z } from 'zod'
import { type AppResults, appArgs } from './app'
import { type DrugsResults, drugsArgs } from './drugs'
import { type EvaluateResults, evaluateArgs } from './evaluate'
import { type ImportsResults, importsArgs } from './imports'
import { type InteropResults, interopArgs } from './interop'
import type { ApiMethodName } from './methods'
import { type ModelsResults, modelsArgs } from './models'
import { type PatientsResults, patientsArgs } from './patients'
import { type RecommendResults, recommendArgs } from './recommend'
import { type ReviewResults, reviewArgs } from './review'
import { type SettingsResults, settingsArgs } from './settings'


export const apiArgSchemas = {
  ...appArgs,
  ...patientsArgs,
  ...modelsArgs,
  ...settingsArgs,
  ...recommendArgs,
  ...drugsArgs,
  ...reviewArgs,
  ...evaluateArgs,
  ...interopArgs,
  ...importsArgs
}

type ApiResults = AppResults &
  PatientsResults &
  ModelsResults &
  SettingsResults &
  RecommendResults &
  DrugsResults &
  ReviewResults &
  EvaluateResults &
  InteropResults &
  ImportsResults

export type ApiMethod = keyof typeof apiArgSchemas
export type ApiArgs<M extends ApiMethod> = z.infer<(typeof apiArgSchemas)[M]>
export type ApiResult<M extends ApiMethod> = ApiResults[M]

/** What preload exposes as window.api: one async function per method. */
export type MedrecApi = { [M in ApiMethod]: (...args: ApiArgs<M>) => Promise<ApiResult<M>> }

// Compile-time agreement of the three lists: schemas, results and the run-time method names.
type Missing<A, B> = Exclude<A, B>
const _everyResultHasASchema: [Missing<keyof ApiResults, ApiMethod>] extends [never] ? true : Missing<keyof ApiResults, ApiMethod> = true
const _everySchemaHasAResult: [Missing<ApiMethod, keyof ApiResults>] extends [never] ? true : Missing<ApiMethod, keyof ApiResults> = true
const _everyMethodListed: [Missing<ApiMethod, ApiMethodName>] extends [never] ? true : Missing<ApiMethod, ApiMethodName> = true
const _everyListedMethodDefined: [Missing<ApiMethodName, ApiMethod>] extends [never] ? true : Missing<ApiMethodName, ApiMethod> = true
