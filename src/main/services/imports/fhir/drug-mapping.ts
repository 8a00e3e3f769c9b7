// The FHIR importer's one door to drug mapping. Today it is the shared name/NDC mapper of the CSV
// importers (services/reference); when the drug resolver (services/drugs/resolver.ts) lands, only the
// body of mapFhirDrug changes.
import type { DrugInput } from '../../importers/store'
import type { DrugMapper, DrugMapping } from '../../reference'

export function mapFhirDrug(mapper: DrugMapper, drug: DrugInput): DrugMapping {
  return mapper.map({ name: drug.rawName, ndc: drug.ndc, gsn: drug.gsn })
}
