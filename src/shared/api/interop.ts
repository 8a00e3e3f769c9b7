// interop:* — a recommendation (and the latest pharmacist review) as a FHIR R4 Bundle (services/interop/fhir-export.ts).
import { z } from 'zod'
import { patientIdSchema } from './common'

export const interopArgs = {
  'interop:fhir-export': z.tuple([z.object({ patientId: patientIdSchema, includeReview: z.boolean().optional() }).strict()])
}

export interface InteropResults {
  'interop:fhir-export': { resourceType: 'Bundle' } & Record<string, unknown>
}
