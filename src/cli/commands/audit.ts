import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { verifyAuditChain } from '../../main/services/audit/chain'
import { auditCsv, auditFhirBundle } from '../../main/services/audit/export'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'
import { openExistingDatabase } from './patients'

const usage = `Usage: medrec audit verify [--db <path>] [--expect-head <id>:<sha256>] [--json]
       medrec audit export --format csv|fhir [--out <file>] [--patient <id>] [--after <id>] [--db <path>]

verify   checks the audit trail: every row's hash and its link to the row before (hash chain), the
         triggers that make the table append-only, and that they were not dropped and recreated since
         the last migration sealed the trail. Names the first broken row; exits 1 when anything fails.
         Prints the head (last row id and hash): keep it outside this machine and pass it back with
         --expect-head to detect rows deleted from the end or a rewritten trail.
export   writes the trail as CSV or as a FHIR R4 Bundle of AuditEvent resources (for the hospital's SIEM),
         each entry with its prev_hash and row_hash.

Options:
  --db <path>                 ${DEFAULT_DB_HELP}
  --expect-head <id>:<hash>   a head printed by an earlier verify
  --format csv|fhir           export format
  --out <file>                write the export there (default: standard output)
  --patient <id>              only this patient's entries (MedRec patient id)
  --after <id>                only entries after this row id (incremental export)
  --json                      verify: print the result as JSON`

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
          json: { type: 'boolean', default: false }
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
    throw new UsageError(action === undefined ? 'Name an action: verify or export.' : `Unknown action "${action}": verify or export.`)
  }
}
