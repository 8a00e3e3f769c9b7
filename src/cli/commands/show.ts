import { type CodedEntry, formatAge, type MedicationEntry, type PatientTimeline } from '../../shared/domain/patient'
import { parseArgs } from 'node:util'
import { auditRecordView } from '../../main/services/audit/audit'
import { findPatient, getPatientTimeline } from '../../main/services/db/patients-repo'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'
import { openExistingDatabase } from './patients'

const usage = `Usage: medrec show <patient> [options]

Shows a patient's visits in time order with diagnoses and procedures (code and title) and
medications (raw name, ATC class and name, how it was mapped). <patient> is the app's patient id
or the source's patient id (a MIMIC subject_id, an eICU uniquepid such as 002-1039).

Options:
  --json       print the timeline as JSON
  --db <path>  ${DEFAULT_DB_HELP}`

const code = (c: CodedEntry): string => `${c.system === 'other' ? '' : `${c.system} ${c.code}  `}${c.title ?? (c.system === 'other' ? c.code : '(no title)')}`

function medication(m: MedicationEntry): string {
  const ids = [m.ndc && `NDC ${m.ndc}`, m.gsn && `GSN ${m.gsn}`, m.otherId && `HICL ${m.otherId}`].filter(Boolean).join(', ')
  const name = m.rawName === '' ? '(no name)' : m.rawName
  const atc = m.atc3 ? `${m.atc5 ?? m.atc3}  ${m.atc3Name ?? ''}`.trimEnd() : 'unmapped'
  return `${name}${ids ? ` [${ids}]` : ''} → ${atc}${m.atc3 ? ` (by ${m.mappingMethod})` : ''}`
}

export function formatTimeline(timeline: PatientTimeline): string {
  const p = timeline.patient
  const lines = [`Patient ${p.sourcePatientId} (id ${p.id}, ${p.source}, sex ${p.sex ?? 'unknown'}): ${p.visitCount} visit(s)`]
  timeline.visits.forEach((v, index) => {
    const when = v.admitTime ? `${v.admitTime.replace('T', ' ').slice(0, 16)} → ${v.dischargeTime?.replace('T', ' ').slice(0, 16) ?? '?'}` : v.orderLabel
    const age = v.ageAtAdmission === null ? '' : ` · age ${formatAge(v.ageAtAdmission)}`
    lines.push('', `Visit ${index + 1}: ${v.sourceVisitId} · ${when}${age}`)
    lines.push(`  Diagnoses (${v.diagnoses.length})`, ...v.diagnoses.map((d) => `    ${code(d)}`))
    lines.push(`  Procedures (${v.procedures.length})`, ...v.procedures.map((d) => `    ${code(d)}`))
    lines.push(`  Medications (${v.medications.length})`, ...v.medications.map((m) => `    ${medication(m)}`))
  })
  return lines.join('\n')
}

export const command: CliCommand = {
  name: 'show',
  summary: "show a patient's visits, codes and medications in time order",
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { json: { type: 'boolean', default: false }, db: { type: 'string' } }
    })
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'name the patient (app id or source id).' : `expected one patient, got ${positionals.length}.`)
    const { db } = openExistingDatabase(values.db, { writable: true }) // the record view is audited
    try {
      const patient = findPatient(db, positionals[0]!)
      const timeline = getPatientTimeline(db, patient.id)
      // Opening a record is audited, as in the app.
      await auditRecordView(db, { id: timeline.patient.id, sourcePatientId: timeline.patient.sourcePatientId }, 'cli show')
      console.log(values.json ? JSON.stringify(timeline, null, 2) : formatTimeline(timeline))
      return 0
    } finally {
      db.close()
    }
  }
}
