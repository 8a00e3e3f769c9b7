// patients:* — which service answers them. Arguments arrive validated by the dispatcher.
import { auditRecordView } from '../../services/audit/audit'
import { getPatientTimeline, listPatients } from '../../services/db/patients-repo'
import type { DomainHandlers, HandlerContext } from './types'

export function patientsHandlers({ db }: HandlerContext): DomainHandlers<'patients:'> {
  return {
    'patients:list': (query) => listPatients(db, query),
    'patients:timeline': async (patientId, page) => {
      // Opening a record is audited (who looked at which patient, when), and so is each earlier page.
      const timeline = getPatientTimeline(db, patientId, page)
      await auditRecordView(db, { id: timeline.patient.id, sourcePatientId: timeline.patient.sourcePatientId }, 'app')
      return timeline
    }
  }
}
