import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { auditIdentity, auditSettingsChange, describeActor, setDisplayName } from '../../main/services/audit/audit'
import { verifyAuditChain } from '../../main/services/audit/chain'
import { writeWhenFree } from '../../main/services/db/busy'
import { auditCsv, auditFhirBundle } from '../../main/services/audit/export'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'
import { openExistingDatabase } from './patients'

const usage = `Usage: medrec audit verify [--db <path>] [--expect-head <id>:<sha256>] [--json]
       medrec audit export --format csv|fhir [--out <file>] [--patient <id>] [--after <id>] [--db <path>]
       medrec audit whoami [--set-display-name <name> | --clear-display-name] [--db <path>]

verify   checks the audit trail: every row's hash and its link to the row before (hash chain), the
         triggers that make the table append-only, and that they were not dropped and recreated since
         the last migration sealed the trail. Names the first broken row; exits 1 when anything fails.
         Prints the head (last row id and hash): keep it outside this machine and pass it back with
         --expect-head to detect rows deleted from the end or a rewritten trail.
export   writes the trail as CSV or as a FHIR R4 Bundle of AuditEvent resources (for the hospital's SIEM),
         each entry with its prev_hash and row_hash.
whoami   who the audit log records for you: the operating-system account and the display name configured
         in this database (set or clear it here or in the app's Settings; the change is audited).

Options:
  --db <path>                 ${DEFAULT_DB_HELP}
  --expect-head <id>:<hash>   a head printed by an earlier verify
  --format csv|fhir           export format
  --out <file>                write the export there (default: standard output)
  --patient <id>              only this patient's entries (MedRec patient id)
  --after <id>                only entries after this row id (incremental export)
  --json                      verify: print the result as JSON
  --set-display-name <name>   whoami: record this name beside the account from now on
  --clear-display-name        whoami: record the account alone`

function parseId(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0) throw new UsageError(`${option} must be a whole number ≥ 0, got "${text}".`)
  return value
}

function parseHead(text: string | undefined): { id: number; hash: string } | undefined {
  if (text === undefined) return undefined
  const match = /^(\d+):([0-9a-f]{64})$/.exec(text.trim())
  if (!match) throw new UsageError(`--expect-head must be <row id>:<sha256 hex> as verify printed it, got "${text}".`)
  return { id: Number(match[1]), hash: match[2]! }
}

export const command: CliCommand = {
  name: 'audit',
  summary: 'verify the hash-chained audit trail; export it as CSV or FHIR AuditEvent',
  usage,
  async run(argv) {
    let parsed
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          db: { type: 'string' },
          'expect-head': { type: 'string' },
          format: { type: 'string' },
          out: { type: 'string' },
          patient: { type: 'string' },
          after: { type: 'string' },
          json: { type: 'boolean', default: false },
          'set-display-name': { type: 'string' },
          'clear-display-name': { type: 'boolean', default: false }
        }
      })
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error))
    }
    const { values, positionals } = parsed
    const [action, ...extra] = positionals
    if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}".`)
    if (action === 'verify') {
      const expectHead = parseHead(values['expect-head'])
      // Read-only: verifying must not add to (or migrate) the trail it checks.
      const { db, path } = openExistingDatabase(values.db)
      try {
        const result = verifyAuditChain(db, { expectHead })
        if (values.json) console.log(JSON.stringify({ database: path, ...result }, null, 2))
        else {
          console.log(`Audit trail of ${path}: ${result.rowCount} rows.`)
          if (result.head) console.log(`Head: ${result.head.id}:${result.head.hash}`)
          if (result.ok) console.log('OK: every row is chained, the triggers are in place and were not recreated.')
          else {
            console.log(`FAILED${result.firstBrokenRowId !== null ? `: the chain first breaks at row ${result.firstBrokenRowId}` : ''}.`)
            for (const problem of result.problems) console.log(`  ${problem}`)
          }
        }
        return result.ok ? 0 : 1
      } finally {
        db.close()
      }
    }
    if (action === 'export') {
      const format = values.format
      if (format !== 'csv' && format !== 'fhir') throw new UsageError(`--format must be csv or fhir, got ${format === undefined ? 'nothing' : `"${format}"`}.`)
      const query = { patientId: parseId(values.patient, '--patient'), afterId: parseId(values.after, '--after') }
      const { db } = openExistingDatabase(values.db)
      try {
        const text = format === 'csv' ? auditCsv(db, query) : `${JSON.stringify(auditFhirBundle(db, query), null, 2)}\n`
        if (values.out) writeFileSync(values.out, text)
        else console.log(text.trimEnd())
        return 0
      } finally {
        db.close()
      }
    }
    if (action === 'whoami') {
      const name = values['set-display-name']?.trim()
      if (name !== undefined && (name.length === 0 || name.length > 100)) throw new UsageError('--set-display-name takes 1 to 100 characters.')
      if (name !== undefined && values['clear-display-name']) throw new UsageError('Give --set-display-name or --clear-display-name, not both.')
      const change = name !== undefined || values['clear-display-name']
      const { db } = openExistingDatabase(values.db, { writable: change })
      try {
        if (change) {
          await writeWhenFree(db, 'Saving the display name', () => {
            const before = auditIdentity(db)
            setDisplayName(db, name ?? null)
            auditSettingsChange(db, { patch: { displayName: name ?? null }, before, after: auditIdentity(db) })
          })
        }
        const identity = auditIdentity(db)
        console.log(`The audit log records you as: ${describeActor(identity)}`)
        return 0
      } finally {
        db.close()
      }
    }
    throw new UsageError(action === undefined ? 'Name an action: verify, export or whoami.' : `Unknown action "${action}": verify, export or whoami.`)
  }
}
