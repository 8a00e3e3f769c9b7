// `medrec ddi`: tiered text with sources and the coverage statement, JSON, table loading, and clear errors.
import type { DdiCheckResult } from '../../src/shared/domain/interaction'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { UsageError } from '../../src/cli/command'
import { command } from '../../src/cli/commands/ddi'
import { currentUserName, listAudit } from '../../src/main/services/audit/audit'
import { openDatabase } from '../../src/main/services/db/database'
import { buildKnowledgeBase } from '../../src/main/services/drugs/knowledge-build'

const fixtureDir = join(__dirname, '..', 'fixtures', 'knowledge')

describe('medrec ddi', () => {
  let dir: string
  let kbPath: string
  let dbPath: string
  let output: string[]

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-ddi-cli-'))
    kbPath = join(dir, 'knowledge.sqlite')
    buildKnowledgeBase(kbPath, fixtureDir, { curatedTablePath: join(fixtureDir, 'curated.csv') })
    dbPath = join(dir, 'patients.sqlite') // an empty patient store: it holds the audit log
    openDatabase(dbPath).close()
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  afterEach(() => vi.restoreAllMocks())

  async function run(...args: string[]): Promise<number> {
    output = []
    vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void output.push(parts.join(' ')))
    return command.run(['--kb', kbPath, '--db', dbPath, ...args])
  }

  it('writes every check to the audit log, and refuses to check without one', async () => {
    const auditRows = () => {
      const db = openDatabase(dbPath, { readonly: true })
      try {
        return listAudit(db).filter((e) => e.kind === 'ddi-check')
      } finally {
        db.close()
      }
    }
    const before = auditRows().length
    expect(await run('warfarin', 'ibuprofen')).toBe(0)
    const entries = auditRows()
    expect(entries).toHaveLength(before + 1)
    const latest = entries.at(0)!
    expect(latest.userName).toBe(currentUserName())
    const outputs = latest.outputs as { drugs: Array<{ input: string }>; warnings: Array<{ severity: string }> }
    expect(outputs.drugs.map((d) => d.input)).toEqual(['warfarin', 'ibuprofen'])
    expect(outputs.warnings[0]).toMatchObject({ severity: 'Major' })
    expect(output.join('\n')).toContain(`Audit entry ${latest.id}.`)

    const missing = join(dir, 'absent.sqlite')
    await expect(command.run(['--kb', kbPath, '--db', missing, 'warfarin', 'ibuprofen'])).rejects.toThrow(/No patient database at .*absent\.sqlite for the audit log/)
    expect(auditRows()).toHaveLength(before + 1)
  })

  it('prints warnings by tier with source and license, then the coverage statement', async () => {
    expect(await run('warfarin', 'ibuprofen', 'acetaminophen', 'C01AA05', 'N06AB06')).toBe(0)
    const text = output.join('\n')
    expect(text).toMatch(/^Checked 5 drug\(s\): Warfarin \(B01AA03\); Ibuprofen \(M01AE01\); Acetaminophen \(N02BE01\); digoxin \(C01AA05\); sertraline \(N06AB06\)/)
    const interrupt = text.indexOf('INTERRUPT (1)')
    const inline = text.indexOf('INLINE (')
    expect(interrupt).toBeGreaterThan(0)
    expect(inline).toBeGreaterThan(interrupt)
    expect(text).toContain('DDInter (open copy, groups A,B) — CC BY-NC-SA 4.0 (non-commercial use only): Major')
    expect(text).toContain('Fixture curated list — CC BY 4.0 (fixture): Major')
    expect(text).toContain('[Coumadin label]')
    expect(text).toMatch(/Not covered by any complete source: .*C×N \([^)]*digoxin–sertraline\)/)
    expect(text).toContain('Absence of a warning is not proof that a combination is safe.')
  })

  it('prints the full result as JSON', async () => {
    expect(await run('B01A', 'M01A', '--json', '--members', '1')).toBe(0)
    const result = JSON.parse(output.join('\n')) as DdiCheckResult
    expect(result.warnings[0]).toMatchObject({ level: 'class', tier: 'interrupt' })
    expect(result.warnings[0]!.evidence[0]!.members).toHaveLength(1)
    expect(result.checkedSources.length).toBe(4)
  })

  it('prints the measured coverage per ATC group pair, marking what a source does not claim', async () => {
    expect(await run('--coverage')).toBe(0)
    const lines = output.join('\n').split('\n')
    const start = lines.findIndex((l) => l.startsWith('ddinter:'))
    const header = lines[start + 1]!.trim().split(/\s+/)
    const row = (g: string) => lines.slice(start + 2).find((l) => l.startsWith(g.padEnd(3)))!.trim().split(/\s+/).slice(1)
    const cell = (a: string, b: string) => row(a)[header.indexOf(b)]
    expect(cell('C', 'C')).toBe('-0') // digoxin–amiodarone: absent and not claimed
    expect(cell('B', 'M')).toBe('2') // warfarin–ibuprofen, aspirin–ibuprofen: claimed (B is open)
  })

  it('lists sources, and loads a hospital table', async () => {
    expect(await run('--sources')).toBe(0)
    expect(output.join('\n')).toContain('license: CC BY-NC-SA 4.0 (non-commercial use only)')
    expect(await run('--load-table', join(fixtureDir, 'hospital-good.csv'), '--covers', 'C,N')).toBe(0)
    expect(output.join('\n')).toContain('Loaded 3 pair(s) of "Fixture hospital rules" (Internal use only, fixture) as source hospital:fixture-hospital-rules')
    expect(await run('--unload-table', 'hospital:fixture-hospital-rules')).toBe(0)
  })

  it('reports a malformed table with its lines and an unknown drug with a suggestion', async () => {
    await expect(run('--load-table', join(fixtureDir, 'hospital-bad.csv'))).rejects.toThrow(/hospital-bad\.csv:3: drug_a: ATC code C01AA99/)
    await expect(run('digoxn', 'warfarin')).rejects.toThrow(/"digoxn" is neither an ATC code nor a drug name .* Did you mean: Digoxin\?/)
  })

  it('rejects bad usage', async () => {
    await expect(run()).rejects.toBeInstanceOf(UsageError)
    await expect(run('warfarin', '--covers', 'all')).rejects.toThrow(/--covers only goes with --load-table/)
    await expect(run('--load-table', 'x.csv', '--covers', 'Q')).rejects.toThrow(/--covers takes "all" or ATC anatomical groups/)
    await expect(run('warfarin', '--members=-1')).rejects.toThrow(/--members takes a whole number/)
    await expect(run('--bogus')).rejects.toBeInstanceOf(UsageError)
  })
})
