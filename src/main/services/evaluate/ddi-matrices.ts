// The named ATC3 × ATC3 DDI matrices of the DDI-rate metric, read from the compiled knowledge base's class
// pairs under the names the training benchmark uses (training/medrec_training/knowledge/ddi.py).
import { existsSync } from 'node:fs'
import Database from 'better-sqlite3'

export interface NamedClassPairs {
  /** The benchmark's name: twosides-atc3, twosides-top40, ddinter-atc3. */
  name: string
  /** The knowledge base's source key the pairs come from. */
  sourceKey: string
  description: string
  /** Unordered pairs of different ATC3 classes. */
  pairs: Array<readonly [string, string]>
}

const MATRICES = [
  {
    name: 'twosides-atc3',
    sourceKey: 'twosides-atc3',
    description: "TWOSIDES ATC3 pairs of the SafeDrug/GAMENet matrix (ddi_A_final), the literature's DDI-rate matrix (built with the 40 least frequent side effects, a known bug)."
  },
  {
    name: 'twosides-top40',
    sourceKey: 'twosides-top40',
    description: 'TWOSIDES pairs for the 40 most frequent side effects (PyHealth), STITCH CID → ATC → ATC3.'
  },
  {
    name: 'ddinter-atc3',
    sourceKey: 'ddinter',
    description:
      'DDInter drug pairs lifted to ATC3 classes, any severity; the open copy lacks pairs whose two drugs both lie in ATC groups C, G, J, M, N or S.'
  }
] as const

/** The three matrices, or an empty list (with the reason) when the knowledge base is absent. */
export function loadDdiMatrices(knowledgeBasePath: string | null): { matrices: NamedClassPairs[]; missing: string | null } {
  if (!knowledgeBasePath || !existsSync(knowledgeBasePath)) {
    return { matrices: [], missing: `no drug knowledge base at ${knowledgeBasePath ?? '(none given)'} (build it with "npm run knowledge"): DDI rates are not reported` }
  }
  const kb = new Database(knowledgeBasePath, { readonly: true, fileMustExist: true })
  try {
    const query = kb.prepare(
      `SELECT c.atc3_a, c.atc3_b FROM class_pairs c JOIN sources s ON s.id = c.source_id
       WHERE s.key = ? AND c.atc3_a <> c.atc3_b ORDER BY c.atc3_a, c.atc3_b`
    )
    const matrices = MATRICES.map((m) => ({
      ...m,
      pairs: (query.all(m.sourceKey) as Array<{ atc3_a: string; atc3_b: string }>).map((r) => [r.atc3_a, r.atc3_b] as const)
    }))
    const empty = matrices.filter((m) => m.pairs.length === 0).map((m) => m.name)
    return { matrices: matrices.filter((m) => m.pairs.length > 0), missing: empty.length > 0 ? `the knowledge base has no pairs for ${empty.join(', ')}` : null }
  } finally {
    kb.close()
  }
}
