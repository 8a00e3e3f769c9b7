// The CDS Hooks pilot service, started and stopped from Settings (the same service as `medrec serve`).
// Loopback by default; a listener on another address needs the EHR's trusted-issuer configuration.
import { z } from 'zod'

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

export const cdsHooksArgSchemas = {
  'interop:cds-status': z.tuple([]),
  'interop:cds-start': z.tuple([cdsStartRequestSchema]),
  'interop:cds-stop': z.tuple([])
}

export interface CdsServiceStatus {
  state: 'stopped' | 'running'
  /** http://host:port while running. */
  address: string | null
  /** Discovery endpoint to register with the EHR. */
  discoveryUrl: string | null
  /** 'jwt' (trusted issuers from the configuration file) or 'none' (loopback only). */
  authentication: 'jwt' | 'none' | null
  trustedIssuers: string[]
  startedAt: string | null
  /** Hook calls answered since it started (read from the audit log). */
  callsAnswered: number
}

export interface CdsHooksApiMethods {
  'interop:cds-status': { args: []; result: CdsServiceStatus }
  'interop:cds-start': { args: [request: CdsStartRequest]; result: CdsServiceStatus }
  'interop:cds-stop': { args: []; result: CdsServiceStatus }
}
