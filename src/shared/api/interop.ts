// interop:* — a recommendation (and the latest pharmacist review) as a FHIR R4 Bundle (services/interop/fhir-export.ts),
// and the CDS Hooks pilot service started and stopped from Settings (the same service as `medrec serve`;
// loopback by default, another address only with the EHR's trusted-issuer configuration).
import { z } from 'zod'
import type { CdsServiceStatus } from '../domain/cds-hooks'
import { patientIdSchema } from './common'

export const cdsStartRequestSchema = z
  .object({
    host: z
      .string()
      .trim()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9.:-]+$/, 'give an IP address or host name (e.g. 127.0.0.1)'),
    port: z.number().int().min(1).max(65535),
    /** The trusted-issuer file (cds-auth.json, see docs/ehr-integration.md); null: no authentication, loopback only. */
    authConfigPath: z.string().trim().min(1).max(4096).nullable()
  })
  .strict()
export type CdsStartRequest = z.infer<typeof cdsStartRequestSchema>


export const interopArgs = {
  'interop:fhir-export': z.tuple([z.object({ patientId: patientIdSchema, includeReview: z.boolean().optional() }).strict()]),
  'interop:cds-status': z.tuple([]),
  'interop:cds-start': z.tuple([cdsStartRequestSchema]),
  'interop:cds-stop': z.tuple([])
}

export interface InteropResults {
  'interop:fhir-export': { resourceType: 'Bundle' } & Record<string, unknown>
  'interop:cds-status': CdsServiceStatus
  'interop:cds-start': CdsServiceStatus
  'interop:cds-stop': CdsServiceStatus
}
