// resources/curated-ddi.csv: every ATC code exists in the WHO index, every row has severity, effect and
// citation, no pair twice, and most rows fill the gap of the open DDInter copy (groups C, G, J, M, N, S).
import { parseSeverity } from '../../src/shared/domain/interaction'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readCsvObjects } from '../../src/main/services/imports/csv'
import { dataDir, defaultCuratedTablePath } from '../../src/main/services/paths'

const rows = readCsvObjects(defaultCuratedTablePath(), ['drug_a', 'drug_b', 'severity', 'effect', 'citation', 'source_name', 'source_license']).rows
const atcDir = join(dataDir(), 'knowledge', 'atc')
const whoFile = existsSync(atcDir) ? readdirSync(atcDir).find((f) => f.startsWith('WHO_ATC-DDD_')) : undefined

describe('curated interaction table', () => {
  it('has 30–60-odd rows, each with a known severity, an effect, a citation and the source license', () => {
    expect(rows.length).toBeGreaterThanOrEqual(30)
    expect(rows.length).toBeLessThanOrEqual(70)
    for (const { line, values } of rows) {
      expect(parseSeverity(values.severity ?? ''), `line ${line}`).not.toBeNull()
      expect(values.effect?.length, `line ${line}`).toBeGreaterThan(10)
      expect(values.citation?.length, `line ${line}`).toBeGreaterThan(10)
      expect(values.source_license, `line ${line}`).toMatch(/CC BY 4\.0/)
      expect(['Contraindicated', 'Major'], `line ${line}`).toContain(values.severity)
    }
  })

  it('names each pair once, by ATC level-5 codes', () => {
    const seen = new Set<string>()
    for (const { line, values } of rows) {
      expect(values.drug_a, `line ${line}`).toMatch(/^[A-Z]\d\d[A-Z]{2}\d\d$/)
      expect(values.drug_b, `line ${line}`).toMatch(/^[A-Z]\d\d[A-Z]{2}\d\d$/)
      const key = [values.drug_a, values.drug_b].sort().join('|')
      expect(seen.has(key), `line ${line} repeats ${key}`).toBe(false)
      seen.add(key)
    }
  })

  it('mostly covers pairs the open DDInter copy lacks (both drugs in C, G, J, M, N or S)', () => {
    const gap = rows.filter(({ values }) => [values.drug_a, values.drug_b].every((c) => 'CGJMNS'.includes(c!.charAt(0))))
    expect(gap.length / rows.length).toBeGreaterThan(0.7)
  })

  it.skipIf(!whoFile)('uses only ATC codes that exist in the WHO ATC index', () => {
    const who = new Set(readCsvObjects(join(atcDir, whoFile!), ['atc_code']).rows.map((r) => r.values.atc_code))
    const missing = rows.flatMap(({ line, values }) => [values.drug_a, values.drug_b].filter((c) => !who.has(c)).map((c) => `line ${line}: ${c}`))
    expect(missing).toEqual([])
  })
})
