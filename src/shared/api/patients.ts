// patients:* — the patient list and one patient's timeline of visits.
import { z } from 'zod'
import type { PatientPage, PatientTimeline } from '../domain/patient'
import { patientIdSchema } from './common'

export const patientQuerySchema = z
  .object({
    search: z.string().max(200).optional(),
    offset: z.number().int().min(0),
    limit: z.number().int().min(1).max(500)
  })
  .strict()
export type PatientQuery = z.infer<typeof patientQuerySchema>

/** Absent: the whole record (every visit). */
export const timelinePageSchema = z
  .object({
    latest: z.number().int().min(1).max(500),
    beforeVisitId: z.number().int().positive().optional()
  })
  .strict()

export const patientsArgs = {
  'patients:list': z.tuple([patientQuerySchema]),
  'patients:timeline': z.tuple([patientIdSchema, timelinePageSchema.optional()])
}

export interface PatientsResults {
  'patients:list': PatientPage
  'patients:timeline': PatientTimeline
}
