// FHIR R4 import (bundles and Bulk Data NDJSON); see import-fhir.ts for its guarantees.
export { FHIR_IMPORTER_VERSION, importFhir, type FhirImportOptions } from './import-fhir'
export { mapFhirDrug } from './drug-mapping'
