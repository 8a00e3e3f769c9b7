// Settings → "CDS Hooks service (pilot)": runs `medrec serve` inside the app so an EHR's CDS Hooks client
// can call it while the app is open. Loopback (127.0.0.1) by default; with a trusted-issuer file every
// call must carry the EHR's signed JWT, without one it answers only on a loopback address.
import { useEffect, useState, type FormEvent } from 'react'
import type { CdsServiceStatus } from '../../../../shared/domain/cds-hooks'
import { api, errorText } from '../../api'
import { FormError } from '../../components/StatusMessage'

export function CdsServicePanel() {
  const [status, setStatus] = useState<CdsServiceStatus | null>(null)
  const [host, setHost] = useState('127.0.0.1')
  const [port, setPort] = useState('8080')
  const [authConfigPath, setAuthConfigPath] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)

  useEffect(() => {
    api()['interop:cds-status']()
      .then(setStatus)
      .catch((e: unknown) => setError(errorText(e)))
  }, [])

  const call = (work: () => Promise<CdsServiceStatus>): void => {
    setBusy(true)
    setError(null)
    work()
      .then(setStatus)
      .catch((e: unknown) => setError(errorText(e)))
      .finally(() => setBusy(false))
  }
  const start = (event: FormEvent): void => {
    event.preventDefault()
    call(() => api()['interop:cds-start']({ host: host.trim(), port: Number(port), authConfigPath: authConfigPath.trim() || null }))
  }
  const running = status?.state === 'running'

  return (
    <section className="cds-service-panel settings-form" aria-labelledby="cds-service-title">
      <form onSubmit={start}>
        <fieldset>
          <legend id="cds-service-title">CDS Hooks service (pilot)</legend>
          <p className="hint">
            Answers the EHR’s <code>patient-view</code>, <code>order-select</code> and <code>order-sign</code> calls with interaction and allergy cards
            while the app is open (the same service as <code>medrec serve</code>). Every call and feedback is written to the audit log.
          </p>
          <div className="inline-field">
            <label htmlFor="cds-host">Address</label>
            <input id="cds-host" type="text" value={host} disabled={running} onChange={(event) => setHost(event.target.value)} />
          </div>
          <div className="inline-field">
            <label htmlFor="cds-port">Port</label>
            <input id="cds-port" type="number" min={1} max={65535} value={port} disabled={running} onChange={(event) => setPort(event.target.value)} />
          </div>
          <label htmlFor="cds-auth" className="field-label">
            Trusted EHR issuers (cds-auth.json)
          </label>
          <input
            id="cds-auth"
            type="text"
            value={authConfigPath}
            spellCheck={false}
            placeholder="empty: no authentication, loopback only"
            disabled={running}
            onChange={(event) => setAuthConfigPath(event.target.value)}
          />
          <p className="hint">
            Without this file the service accepts unauthenticated calls and listens only on this computer (127.0.0.1). For an EHR on another machine,
            give the file naming the EHR’s issuer and keys, and put a TLS proxy in front (docs/ehr-integration.md).
          </p>
          <div className="form-actions">
            {running ? (
              <button type="button" className="button" disabled={busy} onClick={() => call(() => api()['interop:cds-stop']())}>
                Stop service
              </button>
            ) : (
              <button type="submit" className="button button-primary" disabled={busy || status === null}>
                Start service
              </button>
            )}
            <span className="cds-service-status" role="status" aria-live="polite">
              {status === null
                ? 'Checking…'
                : running
                  ? `Running on ${status.address} · ${status.authentication === 'jwt' ? `JWT from ${status.trustedIssuers.join(', ')}` : 'no authentication (loopback only)'} · ${status.callsAnswered} call(s) answered`
                  : 'Stopped'}
            </span>
          </div>
          {running && status?.discoveryUrl ? (
            <p className="hint">
              Register the discovery endpoint with the EHR: <code className="path">{status.discoveryUrl}</code>
            </p>
          ) : null}
          <FormError error={error} />
        </fieldset>
      </form>
    </section>
  )
}
