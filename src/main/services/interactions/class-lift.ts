import { severityRank, SEVERITIES, type Severity } from '../../../shared/domain/interaction'
import type Database from 'better-sqlite3'
import { ATC_GROUPS, type SourceCoverage } from '../drugs/knowledge-schema'

/** The ATC anatomical groups a set of codes lies in; '?' for a drug without any ATC code. */
export function groupsOf(codes: Iterable<string>): string[] {
  const groups = new Set<string>()
  for (const code of codes) groups.add(code.charAt(0))
  return groups.size === 0 ? ['?'] : [...groups].sort()
}

/** Whether a source's coverage claim includes a pair of drugs lying in these groups. */
export function coverageClaims(coverage: SourceCoverage, groupsA: readonly string[], groupsB: readonly string[]): boolean {
  switch (coverage.kind) {
    case 'all':
      return true
    case 'groups':
      return groupsA.some((g) => coverage.groups.includes(g)) || groupsB.some((g) => coverage.groups.includes(g))
    case 'listed-pairs':
      return false
  }
}

interface MemberRow {
  pair_id: number
  severity: Severity
  atc5_a: string
  atc5_b: string
}

/**
 * Lifts a source's drug pairs to ATC level-3 class pairs: a class pair exists when a member drug of one
 * class interacts with a member of the other. Counts per severity are over distinct drug pairs; every drug
 * pair behind the class pair is kept in class_pair_members, ranked most severe first, with the member codes
 * that place it there. Returns the class pairs written.
 */
export function liftSourceToClasses(db: Database.Database, sourceId: number): number {
  db.prepare(
    "DELETE FROM class_pair_members WHERE class_pair_id IN (SELECT id FROM class_pairs WHERE source_id = ? AND basis = 'lifted')"
  ).run(sourceId)
  db.prepare("DELETE FROM class_pairs WHERE source_id = ? AND basis = 'lifted'").run(sourceId)

  const rows = db
    .prepare(
      `SELECT p.id AS pair_id, p.severity, a.atc5 AS atc5_a, b.atc5 AS atc5_b
         FROM drug_pairs p
         JOIN drug_atc a ON a.drug_id = p.drug_a
         JOIN drug_atc b ON b.drug_id = p.drug_b
        WHERE p.source_id = ?`
    )
    .iterate(sourceId) as IterableIterator<MemberRow>

  // Per class pair: drug pair id → severity and the first member codes seen for it.
  const classes = new Map<string, Map<number, { severity: Severity; codeA: string; codeB: string }>>()
  for (const row of rows) {
    // Order the member codes so that the first lies in the lexically smaller class (or is smaller itself).
    const [codeA, codeB] = row.atc5_a.slice(0, 4) <= row.atc5_b.slice(0, 4) ? [row.atc5_a, row.atc5_b] : [row.atc5_b, row.atc5_a]
    const [first, second] = codeA.slice(0, 4) === codeB.slice(0, 4) && codeA > codeB ? [codeB, codeA] : [codeA, codeB]
    const classKey = `${first.slice(0, 4)}|${second.slice(0, 4)}`
    const members = classes.get(classKey) ?? new Map<number, { severity: Severity; codeA: string; codeB: string }>()
    if (!members.has(row.pair_id)) members.set(row.pair_id, { severity: row.severity, codeA: first, codeB: second })
    classes.set(classKey, members)
  }

  const insertClass = db.prepare(
    `INSERT INTO class_pairs (source_id, atc3_a, atc3_b, basis, severity, n_contraindicated, n_major, n_moderate, n_minor, n_unknown)
     VALUES (?, ?, ?, 'lifted', ?, ?, ?, ?, ?, ?)`
  )
  const insertMember = db.prepare(
    'INSERT INTO class_pair_members (class_pair_id, rank, drug_pair_id, atc5_a, atc5_b) VALUES (?, ?, ?, ?, ?)'
  )
  for (const [classKey, members] of classes) {
    const [atc3a, atc3b] = classKey.split('|') as [string, string]
    const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>
    for (const { severity } of members.values()) counts[severity]++
    const ranked = [...members].sort(([idX, x], [idY, y]) => severityRank(y.severity) - severityRank(x.severity) || idX - idY)
    const worst = ranked[0]?.[1].severity ?? 'Unknown'
    const classPairId = Number(
      insertClass.run(sourceId, atc3a, atc3b, worst, counts.Contraindicated, counts.Major, counts.Moderate, counts.Minor, counts.Unknown)
        .lastInsertRowid
    )
    ranked.forEach(([pairId, { codeA, codeB }], rank) => insertMember.run(classPairId, rank, pairId, codeA, codeB))
  }
  return classes.size
}

/**
 * Counts a source's drug pairs per ATC anatomical group pair and records whether the source's coverage
 * claim includes that group pair. A drug in several groups counts toward each of its group pairs; a drug
 * without ATC code counts under '?'.
 */
export function measureCoverage(db: Database.Database, sourceId: number): void {
  const source = db.prepare('SELECT coverage FROM sources WHERE id = ?').get(sourceId) as { coverage: string } | undefined
  if (!source) throw new Error(`measureCoverage: no source with id ${sourceId}`)
  const coverage = JSON.parse(source.coverage) as SourceCoverage
  const groupsByDrug = new Map<number, string[]>()
  const codeRows = db
    .prepare('SELECT d.id, da.atc5 FROM drugs d LEFT JOIN drug_atc da ON da.drug_id = d.id WHERE d.source_id = ?')
    .all(sourceId) as { id: number; atc5: string | null }[]
  const codesByDrug = new Map<number, string[]>()
  for (const { id, atc5 } of codeRows) {
    const codes = codesByDrug.get(id) ?? []
    if (atc5) codes.push(atc5)
    codesByDrug.set(id, codes)
  }
  for (const [id, codes] of codesByDrug) groupsByDrug.set(id, groupsOf(codes))

  // Every pair of the 14 anatomical groups gets a row, so a group pair with no pairs at all shows as 0.
  const counts = new Map<string, number>()
  for (const ga of ATC_GROUPS) for (const gb of ATC_GROUPS) if (ga <= gb) counts.set(`${ga}|${gb}`, 0)
  const pairs = db.prepare('SELECT drug_a, drug_b FROM drug_pairs WHERE source_id = ?').iterate(sourceId) as IterableIterator<{
    drug_a: number
    drug_b: number
  }>
  for (const { drug_a, drug_b } of pairs) {
    const seen = new Set<string>()
    for (const ga of groupsByDrug.get(drug_a) ?? ['?']) {
      for (const gb of groupsByDrug.get(drug_b) ?? ['?']) {
        const key = ga <= gb ? `${ga}|${gb}` : `${gb}|${ga}`
        if (seen.has(key)) continue
        seen.add(key)
        counts.set(key, (counts.get(key) ?? 0) + 1)
      }
    }
  }
  db.prepare('DELETE FROM coverage WHERE source_id = ?').run(sourceId)
  const insert = db.prepare('INSERT INTO coverage (source_id, group_a, group_b, pairs, claimed) VALUES (?, ?, ?, ?, ?)')
  for (const [key, n] of counts) {
    const [ga, gb] = key.split('|') as [string, string]
    insert.run(sourceId, ga, gb, n, coverageClaims(coverage, [ga], [gb]) ? 1 : 0)
  }
}
