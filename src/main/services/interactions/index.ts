// The DDI check service: open once with DdiService.open(kbPath), then check(drugs) for any list of ATC5
// codes, ATC3 classes or drug names (a recommendation, a patient's medications, a proposed prescription).
// Recommendation reads drugInteractions() (drug pairs) and, for classes without a drug, classInteractions()
// through recommend/ddi-port.ts (ddiCheckerFromService).
export { coverageStatement, DdiService, tierFor, UnknownDrugError, type DdiCheckOptions, type UnknownDrugInput } from './ddi-service'
