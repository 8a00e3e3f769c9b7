// The FHIR importer's one door to drug mapping. Today it is the shared name/NDC mapper of the CSV
// importers (services/reference); when the drug resolver (services/drugs/resolver.ts) lands, only the
// body of mapFhirDrug changes.
import type { DrugInput } from '../../importers/store'
import type { DrugMapper, DrugMapping } from '../../reference'
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

export function mapFhirDrug(mapper: DrugMapper, drug: DrugInput): DrugMapping {
  return mapper.map({ name: drug.rawName, ndc: drug.ndc, gsn: drug.gsn })
}
