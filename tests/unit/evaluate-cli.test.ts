// `medrec evaluate` run in-process through the CLI entry on the demo database: wrong options are refused
// with the option and the reason; --json holds the model's identity, the database fingerprint and the
// figures; --since scores only the visits that began on or after the date (checked against SQL here);
// --out writes the report; the database is not changed.
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { main } from '../../src/cli/main'
import { openDatabase } from '../../src/main/services/db/database'
import type { EvaluationReport } from '../../src/main/services/evaluate/evaluate'
import { modelsDir, resourcesDir } from '../../src/main/services/paths'

const demo = join(resourcesDir(), 'demo.sqlite')
const ready = existsSync(demo) && existsSync(join(modelsDir(), 'logistic', 'manifest.json'))

describe.skipIf(!ready)('medrec evaluate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-evaluate-cli-'))
  let out: string[] = []
  let err: string[] = []
  const run = async (...args: string[]): Promise<number> => {
    out = []
    err = []
    vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')))
    vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void err.push(parts.join(' ')))
    return main(['evaluate', ...args])
  }
  afterEach(() => vi.restoreAllMocks())
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('refuses wrong options, naming them', async () => {
    expect(await run('--since', '03/12/2150', '--db', demo)).toBe(2)
    expect(err.join('\n')).toContain('--since must be a date written YYYY-MM-DD, got "03/12/2150"')
    expect(await run('--all', '--model', 'logistic', '--db', demo)).toBe(2)
    expect(err.join('\n')).toContain('Give --model or --all, not both.')
    expect(await run('--bootstrap=-3', '--db', demo)).toBe(2)
    expect(err.join('\n')).toContain('--bootstrap must be a whole number ≥ 0, got "-3"')
    expect(await run('--bootstrap', '-3', '--db', demo)).toBe(2)
    expect(err.join('\n')).toContain("'--bootstrap")
    expect(await run('--db', join(dir, 'missing.sqlite'))).toBe(2)
    expect(err.join('\n')).toContain(`No patient database at ${join(dir, 'missing.sqlite')}`)
    expect(await run('--per-visit', '--db', demo)).toBe(2)
    expect(err.join('\n')).toContain('--per-visit applies with --json.')
    expect(await run('--model', 'no-such-model', '--db', demo)).toBe(1)
    expect(err.join('\n')).toContain('No model "no-such-model"')
  })

  it('--json: model identity, database fingerprint and figures; --since scores only later visits; --out writes the report; nothing changes', async () => {
    const before = createHash('sha256').update(readFileSync(demo)).digest('hex')
    const reportPath = join(dir, 'report.html')
    expect(await run('--model', 'logistic', '--json', '--bootstrap', '20', '--db', demo, '--out', reportPath)).toBe(0)
    const report = JSON.parse(out.join('\n')) as EvaluationReport
    const manifest = JSON.parse(readFileSync(join(modelsDir(), 'logistic', 'manifest.json'), 'utf8')) as { onnx: { sha256: string }; threshold: number; version: string }
    const logistic = report.models[0]!
    expect(logistic.model).toMatchObject({ id: 'logistic', sha256: manifest.onnx.sha256, threshold: manifest.threshold, version: manifest.version })
    expect(report.database.fingerprint.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(report.durationMs).toBeGreaterThan(0)
    expect(Object.keys(logistic.summary.metrics)).toEqual(['jaccard', 'f1', 'prauc', 'precision', 'recall', 'drugs', ...report.ddiMatrices.map((m) => `ddi:${m.name}`), 'ece'])
    expect(logistic.summary.metrics.jaccard!.low).toBeLessThan(logistic.summary.metrics.jaccard!.high!)
    expect(logistic.perClass).toHaveLength(30)
    expect(logistic.baselines.map((b) => b.id)).toEqual(['most-frequent-lpo', 'previous-visit'])
    // Subgroups by age at the visit: every scored visit in one band, in band order; the demo's ages are all known.
    expect(logistic.subgroups.ageBand.map((g) => g.group)).toEqual(['<18', '18–44', '45–64', '65–79', '80+'])
    expect(logistic.subgroups.ageBand.reduce((n, g) => n + g.summary.visits, 0)).toBe(logistic.visits.evaluated)
    expect(logistic.subgroups.ageKnown.map((c) => [c.source, c.share])).toEqual([['eicu', 1], ['mimic-iv', 1]])
    // Drug level: the same visits with a drug-resolved prescription, the Major+ DDI share from the knowledge base.
    expect(Object.keys(logistic.drugLevel.summary.metrics)).toEqual(['jaccard', 'f1', 'precision', 'recall', 'drugs', 'ddi:major-or-contraindicated'])
    expect(logistic.drugLevel.visits.evaluated + logistic.drugLevel.visits.withoutDrug).toBe(logistic.visits.evaluated)
    expect(logistic.drugLevel.baselines.map((b) => b.id)).toEqual(['previous-visit'])
    expect(report.drugLevel.ddi).toMatchObject({ severities: ['Contraindicated', 'Major'], foundIn: expect.arrayContaining([expect.stringContaining('DDInter')]) })
    expect(report.drugLevel.drugChoice).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/) })
    const html = readFileSync(reportPath, 'utf8')
    expect(html).toContain('At drug level (ATC5)')
    expect(html).toContain('DDI share (Major+ drug pairs)')
    expect(html).toContain('by age at the visit')
    expect(html).toContain(report.database.fingerprint.sha256)
    expect(html).toContain(manifest.onnx.sha256)

    const since = '2150-01-01'
    expect(await run('--model', 'logistic', '--json', '--per-visit', '--bootstrap', '0', '--db', demo, '--since', since)).toBe(0)
    const later = (JSON.parse(out.join('\n')) as EvaluationReport).models[0]!
    expect(later.visitScores).toHaveLength(later.visits.evaluated)
    expect(logistic.visitScores).toBeUndefined()
    const db = openDatabase(demo, { readonly: true })
    const expected = (
      db
        .prepare(
          `SELECT count(DISTINCT v.id) AS n FROM visits v JOIN medications m ON m.visit_id = v.id
           WHERE length(COALESCE(NULLIF(m.atc3, ''), substr(m.atc5, 1, 4))) = 4
             AND COALESCE(v.admit_time, substr(v.sort_key, 1, 4) || '-01-01') >= ?`
        )
        .get(since) as { n: number }
    ).n
    db.close()
    expect(expected).toBeGreaterThan(0)
    expect(later.visits.evaluated).toBe(expected)
    expect(later.visits.evaluated + later.visits.beforeSince + later.visits.undatedLeftOut).toBe(logistic.visits.evaluated)
    expect(later.visits.evaluated).toBeLessThan(logistic.visits.evaluated)

    // The text report gives each age band's Jaccard and visits, and the known ages per source.
    expect(await run('--model', 'logistic', '--bootstrap', '0', '--db', demo)).toBe(0)
    const byAge = logistic.subgroups.ageBand.map((g) => `${g.group} ${g.summary.metrics.jaccard!.value.toFixed(4)} (${g.summary.visits} visits)`).join(' · ')
    expect(out).toContain(`  By age at visit: ${byAge}`)
    expect(out.find((l) => l.startsWith('  Age at visit known:'))).toMatch(/eicu \d+\/\d+ \(100\.0%\) · mimic-iv \d+\/\d+ \(100\.0%\)/)
    expect(out.find((l) => l.startsWith('  Drug level (ATC5):'))).toContain(`${logistic.drugLevel.visits.evaluated} visits of ${logistic.drugLevel.visits.patients} patients`)
    expect(out.find((l) => l.startsWith("  Repeat the previous visit's drugs"))).toMatch(/Jaccard 0\.\d{4} · .* DDI Major\+ 0\.\d{4}$/)

    expect(createHash('sha256').update(readFileSync(demo)).digest('hex')).toBe(before)
  }, 120_000)
})
