// `medrec drugs` (resolve, mapping report, overrides) and `medrec ddi` with the names pharmacists use.
import type { DdiCheckResult } from '../../src/shared/domain/interaction'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { UsageError } from '../../src/cli/command'
import { command as ddi } from '../../src/cli/commands/ddi'
import { command as drugs } from '../../src/cli/commands/drugs'
import { currentUserName, listAudit } from '../../src/main/services/audit/audit'
import { openDatabase } from '../../src/main/services/db/database'
import { buildKnowledgeBase } from '../../src/main/services/drugs/knowledge-build'
import { HAS_OPEN_DATA } from './import-helpers'

const fixtureDir = join(__dirname, '..', 'fixtures', 'knowledge')

describe.skipIf(!HAS_OPEN_DATA)('medrec drugs', () => {
  let dir: string
  let dbPath: string
  let kbPath: string
  let output: string[]

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-drugs-cli-'))
    dbPath = join(dir, 'patients.sqlite')
    openDatabase(dbPath).close()
    kbPath = join(dir, 'knowledge.sqlite')
    buildKnowledgeBase(kbPath, fixtureDir, { curatedTablePath: join(fixtureDir, 'curated.csv') })
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  afterEach(() => vi.restoreAllMocks())

  async function run(cmd: typeof drugs, ...args: string[]): Promise<number> {
    output = []
    vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void output.push(parts.join(' ')))
    vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void output.push(parts.join(' ')))
    return cmd.run(args)
  }

  it('resolve prints ingredients, codes and paths; --json gives the full resolution', async () => {
    expect(await run(drugs, 'resolve', 'Percocet', 'Insulin Syringe U-500', '--db', dbPath)).toBe(0)
    expect(output[0]).toMatch(/"Percocet" → oxycodone \+ paracetamol \(N02AA05\+N02BE01\) via brand\+combination/)
    expect(output.join('\n')).toMatch(/"Insulin Syringe U-500" → NON-DRUG/)
    await run(drugs, 'resolve', 'albuterol', '--route', 'IH', '--json', '--db', dbPath)
    const [albuterol] = JSON.parse(output.join('\n')) as Array<{ status: string; ingredients: Array<{ atc5: string; path: string }> }>
    expect(albuterol).toMatchObject({ status: 'resolved', ingredients: [{ atc5: 'R03AC02', path: 'us-name' }] })
  })

  it('resolve --file writes a mapping report with a status and reason per row; bad files name the line', async () => {
    const names = join(dir, 'master.csv')
    writeFileSync(names, 'code,drug,route\n1,Albuterol,IH\n2,Hespan,IV\n3,"Sodium Chloride 0.9%  Flush",IV\n4,Vitamin D,PO\n5,Zorbamycin,PO\n')
    const out = join(dir, 'report.csv')
    expect(await run(drugs, 'resolve', '--file', names, '--route-column', 'route', '--out', out, '--db', dbPath)).toBe(0)
    const lines = readFileSync(out, 'utf8').trim().split('\n')
    expect(lines[0]).toBe('line,raw,route,status,ingredients,atc5,paths,confidence,reason,candidates')
    expect(lines.slice(1).map((l) => l.split(',').slice(1, 4).join(','))).toEqual([
      'Albuterol,IH,resolved',
      'Hespan,IV,resolved',
      'Sodium Chloride 0.9%  Flush,IV,non-drug',
      'Vitamin D,PO,ambiguous',
      'Zorbamycin,PO,unresolved'
    ])
    expect(lines[2]).toContain('B05AA07')
    expect(output.join('\n')).toMatch(/5 row\(s\): 2 resolved, 1 non-drug, 1 ambiguous, 1 unresolved/)
    const bad = join(dir, 'bad.csv')
    writeFileSync(bad, 'drug,route\nAlbuterol,IH\nHespan\n')
    await expect(run(drugs, 'resolve', '--file', bad, '--db', dbPath)).rejects.toThrow(/bad\.csv:3: expected 2 fields, found 1/)
    await expect(run(drugs, 'resolve', '--file', names, '--column', 'nope', '--db', dbPath)).rejects.toThrow(UsageError)
  })

  it('override is audited and used by resolve and ddi; a bad target changes nothing', async () => {
    await expect(run(drugs, 'override', 'Vitamin D', 'A11XX99', '--reason', 'x', '--db', dbPath)).rejects.toThrow(/Not an ATC level-5 code/)
    await expect(run(drugs, 'override', 'Vitamin D', 'A11CC01', '--db', dbPath)).rejects.toThrow(/needs a reason/)
    expect(await run(drugs, 'override', 'Vitamin D', 'A11CC01', '--reason', 'formulary: ergocalciferol', '--db', dbPath)).toBe(0)
    expect(output[0]).toMatch(/Override set: "Vitamin D" → A11CC01/)
    const db = openDatabase(dbPath, { readonly: true })
    const audit = listAudit(db).filter((e) => e.kind === 'drug-override')
    db.close()
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({ userName: currentUserName(), outputs: { target: 'A11CC01', reason: 'formulary: ergocalciferol' } })
    await run(drugs, 'resolve', 'VITAMIN D', '--db', dbPath)
    expect(output[0]).toMatch(/ergocalciferol \(A11CC01\) via override/)
    await run(drugs, 'overrides', '--db', dbPath)
    expect(output[0]).toMatch(/"Vitamin D" → A11CC01/)
  })

  it('medrec ddi accepts US names, abbreviations and brands, and checks every ingredient of a combination', async () => {
    expect(await run(ddi, '--kb', kbPath, '--db', dbPath, 'albuterol', 'phytonadione', '--json')).toBe(0)
    const result = JSON.parse(output.join('\n')) as DdiCheckResult
    expect(result.drugs.map((d) => d.atcCodes)).toEqual([['R03CC02'], ['B02BA01']])
    expect(await run(ddi, '--kb', kbPath, '--db', dbPath, 'Percocet', 'warfarin', '--json')).toBe(0)
    const combo = JSON.parse(output.join('\n')) as DdiCheckResult
    expect(combo.drugs[0]!.atcCodes).toEqual(['N02AA05', 'N02BE01'])
    await expect(run(ddi, '--kb', kbPath, '--db', dbPath, 'Syringe', 'warfarin')).rejects.toThrow(/"Syringe" is not a drug/)
  })
})
