// The FHIR importer's one door to drug mapping: the one drug resolver (services/drugs), with the RxNorm
// code when the source has one (so a local 'rxnorm:<code>' override applies).
import { toMapping } from '../../drugs/import-mapping'
import type { DrugResolver } from '../../drugs/resolver'
import type { DrugInput } from '../store'
import type { DrugMapping } from '../../drugs/reference-data'
import { codingOf, conceptText } from './resources'

export const RXNORM_SYSTEM = 'http://www.nlm.nih.gov/research/umls/rxnorm'
export const NDC_SYSTEM = 'http://hl7.org/fhir/sid/ndc'

/** A medication CodeableConcept as the store keeps drugs: its text (or display), NDC and RxNorm code. */
export function fhirDrugInput(concept: unknown): DrugInput | null {
  const rxnorm = codingOf(concept, RXNORM_SYSTEM)
  const name = conceptText(concept) ?? (rxnorm ? `RxNorm ${rxnorm}` : null)
  if (name === null) return null
  return { rawName: name, ndc: codingOf(concept, NDC_SYSTEM), gsn: null, otherId: rxnorm ? `RxNorm:${rxnorm}` : null }
}

export function mapFhirDrug(resolver: DrugResolver, drug: DrugInput): DrugMapping {
  const rxnorm = drug.otherId?.startsWith('RxNorm:') ? drug.otherId.slice('RxNorm:'.length) : null
  return toMapping(resolver.resolve({ text: drug.rawName, ndc: drug.ndc, gsn: drug.gsn, rxnorm }))
}
