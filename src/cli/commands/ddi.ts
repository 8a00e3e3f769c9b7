import type { DdiCheckResult, DdiTier } from '../../shared/domain/interaction'
import { parseArgs } from 'node:util'
import type { CliCommand } from '../command'
import { DEFAULT_DB_HELP, UsageError } from '../command'

const usage = `Usage:
  medrec ddi <drug...> [--json] [--kb <file>] [--members <n>] [--db <file>]
  medrec ddi --sources [--json] [--kb <file>]
  medrec ddi --coverage [--json] [--kb <file>]
  medrec ddi --load-table <file.csv> [--covers all|<groups>] [--kb <file>]
  medrec ddi --unload-table <source-key> [--kb <file>]

Checks every pair of the given drugs for interactions and prints the warnings by display tier
(INTERRUPT: contraindicated/major, INLINE: moderate, DETAILS: minor/unknown), each with its source and
license, then which sources were checked and which ATC group pairs no source covers.

Drugs are ATC level-5 codes (C01AA05), ATC level-3 classes (N02B) or drug names ("digoxin"); quote names
with spaces. Absence of a warning is never proof that a combination is safe. Every check is written to
the audit log of the patient database (who, when, the drugs checked, the warnings found).

Options:
  --json                 print the full result as JSON
  --kb <file>            knowledge base (default: $MEDREC_KB or resources/knowledge.sqlite; build it with
                         "npm run knowledge")
  --members <n>          member drug pairs listed per class-level warning (default 10; counts cover all)
  --db <path>            ${DEFAULT_DB_HELP}; holds the audit log
  --sources              list the interaction sources with version, license and coverage
  --coverage             measured drug pairs per ATC anatomical group pair and source; "-" marks group
                         pairs the source does not claim to cover
  --load-table <file>    load a hospital interaction table (format: docs/hospital-interactions.md);
                         malformed rows are reported with their line and nothing is loaded
  --covers <claim>       what the loaded table claims to cover: "all", or ATC groups such as "C,N"
                         (default: selected pairs only, so its silence is never read as safety)
  --unload-table <key>   remove a loaded hospital table (see --sources for keys)

Examples:
  medrec ddi C01AA05 C01BD01 N06AB06
  medrec ddi digoxin sertraline --json
  medrec ddi N02B B01A N06A`

const TIER_TITLES: Record<DdiTier, string> = { interrupt: 'INTERRUPT', inline: 'INLINE', details: 'DETAILS' }

function parseCovers(text: string | undefined): { kind: 'all' } | { kind: 'groups'; groups: string[] } | undefined {
  if (text === undefined) return undefined
  if (text.trim().toLowerCase() === 'all') return { kind: 'all' }
  const groups = text.split(',').map((g) => g.trim().toUpperCase()).filter(Boolean)
  const bad = groups.filter((g) => !/^[ABCDGHJLMNPRSV]$/.test(g))
  if (groups.length === 0 || bad.length > 0) {
    throw new UsageError(`--covers takes "all" or ATC anatomical groups such as "C,N"; not understood: ${bad.join(', ') || text}`)
  }
  return { kind: 'groups', groups }
}

function formatResult(result: DdiCheckResult): string {
  const lines: string[] = []
  lines.push(`Checked ${result.drugs.length} drug(s): ${result.drugs.map((d) => d.label).join('; ')}`)
  for (const tier of ['interrupt', 'inline', 'details'] as const) {
    const warnings = result.warnings.filter((w) => w.tier === tier)
    if (warnings.length === 0) continue
    lines.push('', `${TIER_TITLES[tier]} (${warnings.length})`)
    for (const w of warnings) {
      const a = result.drugs[w.a]!.label
      const b = result.drugs[w.b]!.label
      lines.push(`  ${w.severity.padEnd(15)} ${a} + ${b}${w.level === 'class' ? '  [class level]' : ''}`)
      for (const e of w.evidence) {
        const source = `${e.source.name} — ${e.source.license}`
        if (e.basis === 'class-signal') {
          lines.push(`    · ${source}: class-level signal, severity unspecified`)
          continue
        }
        const total = Object.values(e.counts).reduce((x, y) => x + y, 0)
        const counts = Object.entries(e.counts)
          .filter(([, n]) => n > 0)
          .map(([s, n]) => `${n} ${s}`)
          .join(', ')
        lines.push(`    · ${source}: ${e.severity}${total > 1 ? ` (${total} member pairs: ${counts})` : ''}`)
        for (const m of e.members) {
          const codes = (code: string | null): string => (code ? ` ${code}` : '')
          lines.push(`        ${m.a.name}${codes(m.a.code)} + ${m.b.name}${codes(m.b.code)}: ${m.severity}${m.effect ? ` — ${m.effect}` : ''}`)
          if (m.citation) lines.push(`          [${m.citation}]`)
        }
        if (total > e.members.length) lines.push(`        … ${total - e.members.length} more member pair(s) (--members <n> to list more)`)
      }
    }
  }
  lines.push('', result.statement)
  return lines.join('\n')
}

/** One group × group table per source: pair counts, "-" before a count the source does not claim to cover. */
function formatCoverage(cells: { sourceKey: string; groupA: string; groupB: string; pairs: number; claimed: boolean }[]): string {
  const lines: string[] = []
  for (const sourceKey of [...new Set(cells.map((c) => c.sourceKey))]) {
    const own = cells.filter((c) => c.sourceKey === sourceKey)
    const groups = [...new Set(own.flatMap((c) => [c.groupA, c.groupB]))].sort()
    const cell = (a: string, b: string): string => {
      const [x, y] = a <= b ? [a, b] : [b, a]
      const found = own.find((c) => c.groupA === x && c.groupB === y)
      return found ? `${found.claimed ? '' : '-'}${found.pairs}` : ''
    }
    const claimed = own.filter((c) => c.claimed).reduce((n, c) => n + c.pairs, 0)
    const total = own.reduce((n, c) => n + c.pairs, 0)
    lines.push(`${sourceKey}: drug pairs per ATC group pair (a drug in several groups counts in each; "-": not claimed; ${claimed}/${total} in claimed cells)`)
    lines.push(['   ', ...groups.map((g) => g.padStart(7))].join(''))
    for (const a of groups) lines.push([a.padEnd(3), ...groups.map((b) => cell(a, b).padStart(7))].join(''))
    lines.push('')
  }
  return lines.join('\n')
}

async function auditDatabasePath(path: string | undefined): Promise<string> {
  const { existsSync } = await import('node:fs')
  const { defaultDatabasePath } = await import('../../main/services/paths')
  const databasePath = path ?? defaultDatabasePath()
  if (!existsSync(databasePath)) {
    throw new Error(`No patient database at ${databasePath} for the audit log of this check: run "npm run setup", import patients (medrec import …) or give --db.`)
  }
  return databasePath
}

export const command: CliCommand = {
  name: 'ddi',
  summary: 'check drugs (ATC codes or names) for interactions, by severity, with sources and coverage',
  usage,
  async run(argv) {
    let parsed
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          json: { type: 'boolean', default: false },
          kb: { type: 'string' },
          members: { type: 'string' },
          sources: { type: 'boolean', default: false },
          coverage: { type: 'boolean', default: false },
          'load-table': { type: 'string' },
          covers: { type: 'string' },
          'unload-table': { type: 'string' },
          db: { type: 'string' }
        }
      })
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error))
    }
    const { values, positionals } = parsed
    const { defaultKnowledgeBasePath } = await import('../../main/services/paths')
    const { coverageMatrix, loadInteractionTable, openKnowledgeBase, unloadInteractionTable } = await import(
      '../../main/services/drugs/knowledge'
    )
    const kbPath = values.kb ?? defaultKnowledgeBasePath()

    if (values.coverage) {
      const db = openKnowledgeBase(kbPath)
      try {
        const cells = coverageMatrix(db)
        console.log(values.json ? JSON.stringify(cells, null, 2) : formatCoverage(cells))
      } finally {
        db.close()
      }
      return 0
    }

    if (values['load-table'] !== undefined) {
      if (positionals.length > 0) throw new UsageError('--load-table takes no drugs')
      const report = loadInteractionTable(kbPath, values['load-table'], { coverage: parseCovers(values.covers) })
      for (const s of report.sources) {
        console.log(`Loaded ${s.pairs} pair(s) of "${s.name}" (${s.license}) as source ${s.key}; ${s.classPairs} ATC3 class pair(s).`)
      }
      return 0
    }
    if (values.covers !== undefined) throw new UsageError('--covers only goes with --load-table')
    if (values['unload-table'] !== undefined) {
      const removed = unloadInteractionTable(kbPath, values['unload-table'])
      console.log(removed ? `Removed ${values['unload-table']}.` : `No table ${values['unload-table']} in ${kbPath}.`)
      return removed ? 0 : 1
    }

    const { DdiService, UnknownDrugError } = await import('../../main/services/interactions')
    if (values.sources) {
      const service = DdiService.open(kbPath)
      try {
        const sources = service.sources()
        if (values.json) console.log(JSON.stringify(sources, null, 2))
        else for (const s of sources) console.log(`${s.key}\n  ${s.name}, ${s.version}\n  license: ${s.license}\n  coverage: ${s.coverageNote}\n  ${s.url}`)
        return 0
      } finally {
        service.close()
      }
    }
    if (positionals.length === 0) throw new UsageError('give at least one drug (ATC code or name)')
    let maxMembers: number | undefined
    if (values.members !== undefined) {
      maxMembers = Number(values.members)
      if (!Number.isInteger(maxMembers) || maxMembers < 0) throw new UsageError(`--members takes a whole number, not "${values.members}"`)
    }
    // The audit log is required for a check: a missing patient database fails before anything is checked.
    const databasePath = await auditDatabasePath(values.db)
    // The services the app uses: the DDI service reads names through the one drug resolver, with the
    // pharmacist's local overrides (medrec drugs override) of this database.
    const { openServices } = await import('../../main/services/open-services')
    const opened = await openServices({ databasePath, knowledgeBasePath: kbPath })
    try {
      const knowledge = opened.services.knowledge()
      if (!knowledge) throw new Error(opened.services.knowledgeUnavailable ?? `No drug interaction knowledge base at ${kbPath}.`)
      let result
      try {
        result = knowledge.ddi.check(positionals, { maxMembers })
      } catch (error) {
        // An unknown drug is bad input, but the usage text would bury the suggestions: print the message alone.
        if (error instanceof UnknownDrugError) throw new Error(error.message)
        throw error
      }
      const { auditDdiCheck } = await import('../../main/services/audit/audit')
      const auditId = await auditDdiCheck(opened.services.db, {
        drugs: result.drugs.map((d) => d.input),
        outputs: {
          drugs: result.drugs.map((d) => ({ input: d.input, label: d.label, atcCodes: d.atcCodes })),
          warnings: result.warnings.map((w) => ({ a: w.a, b: w.b, severity: w.severity, tier: w.tier, level: w.level })),
          checkedSources: result.checkedSources,
          statement: result.statement
        }
      })
      if (values.json) console.log(JSON.stringify({ ...result, auditId }, null, 2))
      else console.log(`${formatResult(result)}\nAudit entry ${auditId}.`)
      return 0
    } finally {
      await opened.close()
    }
  }
}
