// app:info — which service answers it. Arguments arrive validated by the dispatcher.
import { DATA_ATTRIBUTIONS } from '../../../shared/domain/attributions'
import type { DomainHandlers, HandlerContext } from './types'

export function appHandlers({ db, databasePath, appVersion }: HandlerContext): DomainHandlers<'app:'> {
  return {
    'app:info': () => ({
      version: appVersion,
      databasePath,
      patientCount: (db.prepare('SELECT count(*) AS n FROM patients').get() as { n: number }).n,
      dataAttributions: [...DATA_ATTRIBUTIONS]
    })
  }
}
