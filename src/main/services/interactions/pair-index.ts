import { SEVERITIES, type Severity } from '../../../shared/domain/interaction'
import type { KnowledgeDb } from '../drugs/knowledge-base'

const DRUG_ID_LIMIT = 2 ** 21 // a pair key packs two drug ids into one safe integer

function pairKey(x: number, y: number): number {
  return x < y ? x * DRUG_ID_LIMIT + y : y * DRUG_ID_LIMIT + x
}

/**
 * Every drug pair of the knowledge base in typed arrays: lookup by drug pair, and each drug's pairs
 * (compressed adjacency). Loading 160k pairs this way takes a fraction of what row objects would.
 */
export class PairIndex {
  private readonly byKey = new Map<number, number>()
  private readonly drugA: Int32Array
  private readonly drugB: Int32Array
  private readonly sourceOf: Int32Array
  private readonly severityOf: Uint8Array
  private readonly adjacencyStart: Int32Array
  private readonly adjacency: Int32Array
  private readonly text = new Map<number, { effect: string | null; citation: string | null }>()

  constructor(db: KnowledgeDb) {
    const maxPair = (db.prepare('SELECT COALESCE(MAX(id), 0) FROM drug_pairs').pluck().get() as number) + 1
    const maxDrug = (db.prepare('SELECT COALESCE(MAX(id), 0) FROM drugs').pluck().get() as number) + 1
    if (maxDrug >= DRUG_ID_LIMIT) throw new Error(`Knowledge base has ${maxDrug} drug ids, beyond what the checker indexes.`)
    this.drugA = new Int32Array(maxPair)
    this.drugB = new Int32Array(maxPair)
    this.sourceOf = new Int32Array(maxPair)
    this.severityOf = new Uint8Array(maxPair)
    const degree = new Int32Array(maxDrug + 1)
    const rows = db.prepare('SELECT id, source_id, drug_a, drug_b, severity FROM drug_pairs').raw().all() as [number, number, number, number, Severity][]
    for (const [id, sourceId, a, b, severity] of rows) {
      this.drugA[id] = a
      this.drugB[id] = b
      this.sourceOf[id] = sourceId
      this.severityOf[id] = SEVERITIES.indexOf(severity)
      // drug_a < drug_b within a source and drug ids belong to one source, so a key names one pair.
      this.byKey.set(pairKey(a, b), id)
      degree[a]!++
      degree[b]!++
    }
    this.adjacencyStart = new Int32Array(maxDrug + 1)
    for (let d = 1; d <= maxDrug; d++) this.adjacencyStart[d] = this.adjacencyStart[d - 1]! + degree[d - 1]!
    this.adjacency = new Int32Array(rows.length * 2)
    const fill = this.adjacencyStart.slice()
    for (const [id, , a, b] of rows) {
      this.adjacency[fill[a]!++] = id
      this.adjacency[fill[b]!++] = id
    }
    for (const [id, effect, citation] of db
      .prepare('SELECT id, effect, citation FROM drug_pairs WHERE effect IS NOT NULL OR citation IS NOT NULL')
      .raw()
      .all() as [number, string | null, string | null][]) {
      this.text.set(id, { effect, citation })
    }
  }

  /** The pair id of two drugs, if a source lists them. */
  find(x: number, y: number): number | undefined {
    return x === y ? undefined : this.byKey.get(pairKey(x, y))
  }

  /** Ids of the pairs a drug takes part in. */
  pairsOf(drugId: number): Int32Array {
    if (drugId + 1 >= this.adjacencyStart.length) return new Int32Array(0)
    return this.adjacency.subarray(this.adjacencyStart[drugId], this.adjacencyStart[drugId + 1])
  }

  drugs(pairId: number): [number, number] {
    return [this.drugA[pairId]!, this.drugB[pairId]!]
  }

  partner(pairId: number, drugId: number): number {
    return this.drugA[pairId] === drugId ? this.drugB[pairId]! : this.drugA[pairId]!
  }

  source(pairId: number): number {
    return this.sourceOf[pairId]!
  }

  severity(pairId: number): Severity {
    return SEVERITIES[this.severityOf[pairId]!]!
  }

  effectAndCitation(pairId: number): { effect: string | null; citation: string | null } {
    return this.text.get(pairId) ?? { effect: null, citation: null }
  }
}
