// The CDS Hooks pilot service run inside the app (services/interop/cds-hooks/pilot.ts), as Settings shows it.
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
