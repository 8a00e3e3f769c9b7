// imports:* — the import screen: a FHIR R4 folder or file (bundles or Bulk Data NDJSON) on this computer,
// first planned (a dry run: counts, rejected resources, what it would change), then imported
// (services/imports/fhir). The renderer cannot read files; it names the path, main reads it.
import { z } from 'zod'
import type { FhirImportReport } from '../domain/imports'

const inputPath = z
  .string()
  .trim()
  .min(1, 'give the folder or file to import')
  .max(4096)
  .refine((path) => path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith('\\\\'), 'give an absolute path (e.g. /exports/2026-12-01 or C:\\exports)')
  .refine((path) => !path.includes('\0'), 'the path contains a NUL character')

export const fhirImportPlanRequestSchema = z.object({ path: inputPath }).strict()
export const fhirImportRunRequestSchema = z
  .object({
    path: inputPath,
    /** Apply an import that removes or alters stored rows (the plan said so and the user confirmed). */
    replace: z.boolean()
  })
  .strict()
export type FhirImportPlanRequest = z.infer<typeof fhirImportPlanRequestSchema>
export type FhirImportRunRequest = z.infer<typeof fhirImportRunRequestSchema>

export const importsArgs = {
  'imports:fhir-plan': z.tuple([fhirImportPlanRequestSchema]),
  'imports:fhir-run': z.tuple([fhirImportRunRequestSchema])
}

export interface ImportsResults {
  /** A dry run: every check, the counts and the plan; writes nothing ('dry-run', or 'skipped-unchanged'). */
  'imports:fhir-plan': FhirImportReport
  /** The import; refused (with the plan's figures) when it would alter stored rows and `replace` is false. */
  'imports:fhir-run': FhirImportReport
}
