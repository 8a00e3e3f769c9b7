// Import: a hospital's FHIR R4 export (a Bulk Data NDJSON folder, transaction/collection bundles, or one
// file) into the open patient database. "Preview" runs every check and shows what the import would read,
// reject and change (imports:fhir-plan, writes nothing); "Import" applies it (imports:fhir-run). An import
// that would remove or alter stored rows is refused unless "Replace stored rows" is ticked after the plan.
// The same importer and guarantees as `medrec import --format fhir`.
import { useState, type FormEvent } from 'react'
import type { FhirImportReport, ImportPlan } from '../../../../shared/domain/imports'
import { api, errorText } from '../../api'
import { usePatients } from '../patients/store'
import './imports.css'
import { FormError } from '../../components/StatusMessage'

const n = (value: number): string => value.toLocaleString('en-US')
const TABLES: Array<keyof ImportPlan['tables']> = ['patients', 'visits', 'diagnoses', 'procedures', 'medications']

function Counts({ report }: { report: FhirImportReport }) {
  const read = Object.entries(report.resourcesRead).sort((a, b) => b[1] - a[1])
  const rows: Array<[string, number]> = [
    ['Patients', report.patients],
    ['Visits (encounters)', report.visits],
    // From Patient.birthDate; 90 stands for "90 or older", as the public sources top-code it.
    ...(report.ages ? [['Visits with an age at the visit', report.ages.known] as [string, number]] : []),
    ['Diagnosis codes', report.diagnosisCodes],
    ['Procedure codes', report.procedureCodes],
    ['Medication resources', report.medicationResources],
    ['Drugs mapped to ATC', report.mappedDrugs],
    ['Drugs kept unmapped', report.unmappedDrugs],
    ['Allergies', report.allergies],
    ['Rejected resources', report.rejected]
  ]
  return (
    <div className="import-counts">
      <table className="metric-table import-summary">
        <caption>What the import {report.status === 'dry-run' ? 'would store' : 'stored'}</caption>
        <tbody>
          {rows.map(([label, value]) => (
            <tr key={label}>
              <th scope="row">{label}</th>
              <td className="number">{n(value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <table className="metric-table import-read">
        <caption>
          Resources read from {n(report.files.bundles)} bundle file(s) and {n(report.files.ndjson)} NDJSON file(s)
        </caption>
        <tbody>
          {read.map(([type, count]) => (
            <tr key={type}>
              <th scope="row">{type}</th>
              <td className="number">{n(count)}</td>
              <td>{report.skippedTypes[type] ? 'skipped (not read)' : 'read'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function Plan({ plan }: { plan: ImportPlan }) {
  return (
    <table className="metric-table import-plan">
      <caption>
        Changes to stored rows ({n(plan.storedPatients)} patients stored
        {plan.patientsAffected > 0 ? `, ${n(plan.patientsAffected)} of them affected` : ''})
      </caption>
      <thead>
        <tr>
          <th scope="col">Table</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
          <th scope="col">Added</th>
          <th scope="col">Removed</th>
          <th scope="col">Changed</th>
        </tr>
      </thead>
      <tbody>
        {TABLES.map((table) => {
          const change = plan.tables[table]
          return (
            <tr key={table}>
              <th scope="row">{table}</th>
              <td className="number">{n(change.before)}</td>
              <td className="number">{n(change.after)}</td>
              <td className="number">{n(change.added)}</td>
              <td className="number">{n(change.removed)}</td>
              <td className="number">{n(change.changed)}</td>
            </tr>
          )
        })}
      </tbody>
    </table>
  )
}

function Rejected({ report }: { report: FhirImportReport }) {
  if (report.rejected === 0) return null
  return (
    <details className="import-rejected" open>
      <summary>
        {n(report.rejected)} resource(s) rejected{report.rejectedSamples.length < report.rejected ? ` (the first ${report.rejectedSamples.length} shown)` : ''}
      </summary>
      <ul>
        {report.rejectedSamples.map((r, i) => (
          <li key={i}>
            <code className="path">{r.file}</code> {r.line !== null ? `line ${r.line}` : `entry ${r.entry ?? '?'}`}
            {r.resource ? ` (${r.resource})` : ''}: {r.reason}
          </li>
        ))}
      </ul>
    </details>
  )
}

export function ImportView() {
  const [path, setPath] = useState('')
  const [preview, setPreview] = useState<FhirImportReport | null>(null)
  const [result, setResult] = useState<FhirImportReport | null>(null)
  const [replace, setReplace] = useState(false)
  const [busy, setBusy] = useState<'plan' | 'import' | null>(null)
  const [error, setError] = useState<string | null>(null)

  const plan = (event: FormEvent): void => {
    event.preventDefault()
    setError(null)
    setResult(null)
    setPreview(null)
    setReplace(false)
    setBusy('plan')
    api()['imports:fhir-plan']({ path })
      .then(setPreview)
      .catch((e: unknown) => setError(errorText(e)))
      .finally(() => setBusy(null))
  }
  const apply = (): void => {
    setError(null)
    setBusy('import')
    api()['imports:fhir-run']({ path, replace })
      .then((report) => {
        setResult(report)
        setPreview(null)
        // The patient list shows the imported patients next time it is opened.
        usePatients.setState({ listStatus: 'idle' })
      })
      .catch((e: unknown) => setError(errorText(e)))
      .finally(() => setBusy(null))
  }
  const destructive = preview?.plan?.destructive ?? false

  return (
    <div className="import-view">
      <h1>Import FHIR data</h1>
      <p className="lead">
        A FHIR R4 export from the hospital’s EHR: a Bulk Data folder (<code>.ndjson</code>, <code>.ndjson.gz</code>, one resource type per file),
        transaction or collection bundles (<code>.json</code>, <code>.json.gz</code>, a folder searched recursively), or one such file. Patients,
        encounters, conditions, procedures, medications and allergies are read; other resource types are counted and skipped.
      </p>
      <form className="import-form" onSubmit={plan}>
        <label htmlFor="import-path" className="field-label">
          Folder or file on this computer
        </label>
        <div className="import-path-row">
          <input
            id="import-path"
            type="text"
            value={path}
            spellCheck={false}
            placeholder="/exports/2026-12-01"
            onChange={(event) => {
              setPath(event.target.value)
              setPreview(null)
            }}
          />
          <button type="submit" className="button button-primary" disabled={busy !== null || path.trim() === ''}>
            {busy === 'plan' ? 'Checking…' : 'Preview import'}
          </button>
        </div>
        <p className="hint">Preview reads and checks every file and writes nothing. Same importer as <code>medrec import --format fhir</code>.</p>
      </form>
      {busy ? (
        <div className="state state-loading" role="status" aria-live="polite">
          <span className="spinner" aria-hidden="true" />
          {busy === 'plan' ? 'Reading and checking the files…' : 'Importing…'}
        </div>
      ) : null}
      <FormError error={error} />
      {preview ? (
        <section className="import-preview" aria-labelledby="import-preview-title">
          <h2 id="import-preview-title">{preview.status === 'skipped-unchanged' ? 'Already imported' : 'Preview'}</h2>
          {preview.status === 'skipped-unchanged' ? (
            <p role="status">These files were imported before (run {preview.previousRunId}) and have not changed: importing them again changes nothing.</p>
          ) : null}
          <Counts report={preview} />
          {preview.plan ? <Plan plan={preview.plan} /> : null}
          <Rejected report={preview} />
          {destructive ? (
            <div className="import-destructive" role="alert">
              <p>This import removes or changes rows already stored (see the table). It is refused unless you confirm.</p>
              <label>
                <input type="checkbox" checked={replace} onChange={(event) => setReplace(event.target.checked)} /> Replace stored rows as planned
              </label>
            </div>
          ) : null}
          <div className="form-actions">
            <button type="button" className="button button-primary" disabled={busy !== null || (destructive && !replace)} onClick={apply}>
              Import
            </button>
          </div>
        </section>
      ) : null}
      {result ? (
        <section className="import-result" aria-labelledby="import-result-title">
          <h2 id="import-result-title">{result.status === 'skipped-unchanged' ? 'Nothing to import: unchanged since the last import' : 'Imported'}</h2>
          <p role="status">
            {result.status === 'completed'
              ? `Import run ${result.runId}: ${n(result.patients)} patients, ${n(result.visits)} visits in ${(result.durationMs / 1000).toFixed(1)} s.`
              : `Run ${result.runId} recorded; the data is as imported by run ${result.previousRunId}.`}
          </p>
          <Counts report={result} />
          <Rejected report={result} />
        </section>
      ) : null}
    </div>
  )
}
