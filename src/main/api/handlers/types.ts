// What every domain's handlers are built from, and the shape they return.
import type { ApiMethod } from '../../../shared/api'
import type { Db } from '../../services/db/database'
import type { MedrecServices } from '../../services/open-services'
import type { ApiHandlers } from '../dispatcher'


/** The handlers of the methods whose names start with `prefix` ("review:" → review:check, review:submit, …). */
export type DomainHandlers<Prefix extends string> = Pick<ApiHandlers, Extract<ApiMethod, `${Prefix}${string}`>>

export interface HandlerContext {
  db: Db
  databasePath: string
  appVersion: string
  /** The services over `db` (open-services.ts). */
  services: MedrecServices
}
