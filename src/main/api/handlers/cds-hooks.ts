// Settings → "CDS Hooks service": start, stop and show the pilot service (src/shared/api/cds-hooks.ts).
import type { CdsHooksApiMethods } from '../../../shared/api/cds-hooks'
import { CdsPilotService } from '../../services/interop/cds-hooks/pilot'
import type { ApiHandlers } from '../dispatcher'

export function createCdsHooksHandlers(context: { databasePath: string }): Pick<ApiHandlers, keyof CdsHooksApiMethods> {
  const pilot = new CdsPilotService({ databasePath: context.databasePath })
  return {
    'interop:cds-status': () => pilot.status(),
    'interop:cds-start': (request) => pilot.start(request),
    'interop:cds-stop': () => pilot.stop()
  }
}
