// Which service answers which API method: one handler file per API domain (src/shared/api/<domain>.ts), joined
// here. Plain Node (no electron) so the e2e test host and the tests build exactly what the app runs.
import type { Db } from '../../services/db/database'
import { MedrecServices } from '../../services/open-services'
import { createApiDispatcher, type ApiDispatcher, type ApiHandlers, type DispatcherOptions } from '../dispatcher'
import { appHandlers } from './app'
import { drugsHandlers } from './drugs'
import { evaluateHandlers } from './evaluate'
import { importsHandlers } from './imports'
import { interopHandlers } from './interop'
import { modelsHandlers, settingsHandlers } from './models'
import { patientsHandlers } from './patients'
import { recommendHandlers } from './recommend'
import { reviewHandlers } from './review'
import type { HandlerContext } from './types'

export type { ApiHandlers } from '../dispatcher'

export interface ApiContext {
  db: Db
  databasePath: string
  appVersion: string
  /** The services over `db`; default: opened lazily with the default paths (open-services.ts). */
  services?: MedrecServices
}

export function createApiHandlers(context: ApiContext): ApiHandlers {
  const handlerContext: HandlerContext = { ...context, services: context.services ?? new MedrecServices(context.db) }
  return {
    ...appHandlers(handlerContext),
    ...patientsHandlers(handlerContext),
    ...modelsHandlers(handlerContext),
    ...settingsHandlers(handlerContext),
    ...recommendHandlers(handlerContext),
    ...drugsHandlers(handlerContext),
    ...reviewHandlers(handlerContext),
    ...evaluateHandlers(handlerContext),
    ...interopHandlers(handlerContext),
    ...importsHandlers(handlerContext)
  }
}

/** The validated dispatcher the app (over IPC) and the e2e host (over HTTP) serve. */
export function createApi(context: ApiContext, options?: DispatcherOptions): ApiDispatcher {
  return createApiDispatcher(createApiHandlers(context), options)
}
