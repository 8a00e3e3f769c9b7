// The drug resolver's contract: what a caller gives (a raw string and any codes the source has) and
// what it gets back (ingredients with route-appropriate ATC codes, non-drug, ambiguous or unresolved).

/** Where a product acts; decides which of a substance's ATC codes applies (lidocaine jelly is N01BB02, not C01BB01). */
export type RouteClass = 'systemic' | 'inhaled' | 'ophthalmic' | 'otic' | 'nasal' | 'topical' | 'local-anaesthetic' | 'mouth' | 'vaginal' | 'rectal'

/** How an ingredient was recognised. */
export type ResolutionPath =
  | 'override'
  | 'exact-inn'
  | 'us-name'
  | 'brand'
  | 'abbreviation'
  | 'synonym'
  | 'salt-stripped'
  | 'misspelling'
  | 'code-table'
  | 'rxnorm'

export interface DrugQuery {
  /** The drug string as the source writes it. */
  text: string
  rxnorm?: string | null
  ndc?: string | null
  gsn?: string | null
  /** The source's route column (MIMIC "IH", eICU "NEBULIZATION", FHIR dosage route text). */
  route?: string | null
  /** The source's dose form, when separate from the name. */
  form?: string | null
}

export interface ResolvedIngredient {
  /** WHO ATC substance name (INN), e.g. "salbutamol". */
  name: string
  /** The route-appropriate ATC level-5 code. */
  atc5: string
  /** Every ATC5 code the WHO index gives this substance, for callers that check interactions by substance. */
  substanceCodes: string[]
  path: ResolutionPath
  /** The words of the input that named it. */
  matched: string
}

export interface Candidate {
  name: string
  atc5: string | null
  why: string
}

interface Base {
  input: DrugQuery
  /** 0..1: how sure the resolver is (1 for a local override, lower for misspellings and code tables). */
  confidence: number
}

export type DrugResolution =
  | (Base & {
      status: 'resolved'
      ingredients: ResolvedIngredient[]
      route: RouteClass
      /** True when the product has several ingredients (oxycodone/acetaminophen). */
      combination: boolean
      /** The distinct resolution paths of the ingredients, plus 'combination' when split. */
      paths: string[]
      notes: string[]
    })
  | (Base & { status: 'non-drug'; reason: string })
  | (Base & { status: 'ambiguous'; reason: string; candidates: Candidate[] })
  | (Base & { status: 'unresolved'; reason: string; candidates: Candidate[] })

export type ResolutionStatus = DrugResolution['status']
