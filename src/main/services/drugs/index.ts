// The drug domain: the one resolver every importer, `medrec ddi`, `medrec drugs`, the drug picker and the
// FHIR importer call. resolveDrug() uses a process-wide resolver over the default data folder and
// knowledge base; services that hold their own (with a patient database's overrides) use createDrugResolver.
import { existsSync } from 'node:fs'
import { dataDir, defaultKnowledgeBasePath } from '../paths'
import { createDrugResolver } from './load'
import type { DrugResolver } from './resolver'
import type { DrugQuery, DrugResolution } from './types'

export { createDrugResolver, loadResolverData, type ResolverSources } from './load'
export { DrugResolver, overrideKey, type DrugOverride } from './resolver'
export type { Candidate, DrugQuery, DrugResolution, ResolutionPath, ResolutionStatus, ResolvedIngredient, RouteClass } from './types'

let shared: DrugResolver | null = null

/** The resolver over $MEDREC_DATA_DIR (WHO ATC, GSN table) and the default knowledge base's synonyms. */
export function defaultDrugResolver(): DrugResolver {
  if (!shared) {
    const kb = defaultKnowledgeBasePath()
    shared = createDrugResolver({ dataDir: dataDir(), kbPath: existsSync(kb) ? kb : null })
  }
  return shared
}

/**
 * Resolves one drug as a source writes it (e.g. a FHIR MedicationRequest's
 * medicationCodeableConcept: text or coding display, RxNorm code, dosage route).
 */
export function resolveDrug(query: DrugQuery): DrugResolution {
  return defaultDrugResolver().resolve(query)
}
