// Drugs as the picker and the molecule panel show them: ATC level-5 members of a class, search hits, drawings.
// No runtime imports here: the preload bundle and the renderer take these as types.

export interface AtcDrug {
  code: string
  name: string
}

export interface DrugSearchHit {
  /** ATC level-5 drug or level-3 class code. */
  code: string
  name: string
  level: 3 | 5
  atc3: string
  atc3Name: string | null
  /** The name the query matched when it is not the WHO name (a source's alias), else null. */
  matchedAlias: string | null
}

export interface MoleculeDrawing {
  smiles: string
  /** Sanitised SVG text drawn by RDKit; null when RDKit cannot parse the SMILES. */
  svg: string | null
  error: string | null
}

export interface ClassMolecules {
  atc3: string
  name: string | null
  /** Member structures of the class known to the knowledge base (drawn: the first few). */
  total: number
  molecules: MoleculeDrawing[]
  /** Where the SMILES come from, with license. */
  source: { name: string; license: string } | null
}
