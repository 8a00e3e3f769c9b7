// What the app is for, which database is open, and the data it is built from with licenses.
import type { AppInfo } from '../../../../shared/domain/app'
import { useEffect, useState } from 'react'
import { api, errorText } from '../../api'
import { ErrorState, Loading } from '../../components/StatusMessage'
import { formatCount } from '../../format'

type AboutState = { status: 'loading' } | { status: 'ready'; info: AppInfo } | { status: 'error'; message: string }

export function AboutView() {
  const [state, setState] = useState<AboutState>({ status: 'loading' })
  const [attempt, setAttempt] = useState(0)

  useEffect(() => {
    let current = true
    api()['app:info']()
      .then((info) => current && setState({ status: 'ready', info }))
      .catch((error: unknown) => current && setState({ status: 'error', message: errorText(error) }))
    return () => {
      current = false
    }
  }, [attempt])

  return (
    <div className="about-view" tabIndex={0}>
      <h1>About MedRec Desktop</h1>
      <p className="lead">
        MedRec Desktop suggests medication classes (WHO ATC level 3) from a patient’s visit history, flags known
        drug–drug interactions by severity, and explains which information each suggestion rests on. It is a
        decision-support tool: every suggestion and warning must be checked against the full clinical picture, and
        the absence of a warning does not mean a combination is safe. Prescribing decisions remain with the treating
        clinician and pharmacist.
      </p>
      {state.status === 'loading' ? (
        <Loading>Loading application details…</Loading>
      ) : state.status === 'error' ? (
        <ErrorState
          title="Application details could not be loaded."
          message={state.message}
          onRetry={() => {
            setState({ status: 'loading' })
            setAttempt((n) => n + 1)
          }}
        />
      ) : (
        <>
          <dl className="facts">
            <dt>Version</dt>
            <dd>{state.info.version}</dd>
            <dt>Patient database</dt>
            <dd>
              <code className="path">{state.info.databasePath}</code>
            </dd>
            <dt>Patients</dt>
            <dd>{formatCount(state.info.patientCount)}</dd>
          </dl>
          <h2>Data sources and licenses</h2>
          <ul className="attributions">
            {state.info.dataAttributions.map((source) => (
              <li key={source.name} className="attribution">
                <h3>{source.name}</h3>
                <p className="license">License: {source.license}</p>
                <p>{source.attribution}</p>
                <p className="source-url">
                  <code>{source.url}</code>
                </p>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  )
}
