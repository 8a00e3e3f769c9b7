// The importers' view of the resolver: one source row (name, NDC, GSN, route) → the medications row's
// ATC fields. A combination gives one ingredient per stored row (store.ts writes one row each); a
// non-drug, ambiguous or unresolved string is stored unmapped (kept with its raw name, never dropped).
import type { DrugMappingMethod } from '../../../shared/domain/patient'
import type { DrugMapping } from './reference-data'
import type { DrugResolver } from './resolver'
import type { DrugResolution } from './types'

export interface ImportDrugRow {
  name: string
  ndc?: string | null
  gsn?: string | null
  route?: string | null
}

/** Counts of resolver outcomes over source rows, for the import report. */
export interface DrugResolutionCounts {
  resolved: number
  combination: number
  nonDrug: number
  ambiguous: number
  unresolved: number
  /** Of `unresolved`: rows with no drug name at all (eICU rows with only a HICL number). */
  noName: number
  /** Source rows by resolution path (an ingredient's path; combinations counted once per row). */
  byPath: Record<string, number>
}

export function emptyResolutionCounts(): DrugResolutionCounts {
  return { resolved: 0, combination: 0, nonDrug: 0, ambiguous: 0, unresolved: 0, noName: 0, byPath: {} }
}

export class ResolverDrugMapper {
  constructor(readonly resolver: DrugResolver) {}

  map(row: ImportDrugRow): DrugMapping {
    const resolution = this.resolver.resolve({ text: row.name, ndc: row.ndc ?? null, gsn: row.gsn ?? null, route: row.route ?? null })
    const mapping = toMapping(resolution)
    return row.name.trim() === '' ? { ...mapping, paths: ['no-name'] } : mapping
  }

  substanceOf(atc5: string): string | null {
    return this.resolver.substanceOfCode(atc5)?.name ?? null
  }
}

export function toMapping(resolution: DrugResolution): DrugMapping {
  if (resolution.status !== 'resolved') {
    return { atc5: null, atc3: null, method: 'unmapped', outcome: resolution.status, paths: [resolution.status] }
  }
  const ingredients = resolution.ingredients.map((i) => ({ atc5: i.atc5, atc3: i.atc5.slice(0, 4) }))
  // An RxNorm code-table row is stored as 'name': the table holds what the resolver reads from the code's
  // RxNorm name, and the stored methods predate it; the import's byPath counts say 'rxnorm'.
  const method: DrugMappingMethod = resolution.paths.includes('code-table') ? 'gsn' : 'name'
  return { atc5: ingredients[0]!.atc5, atc3: ingredients[0]!.atc3, method, ingredients, outcome: 'resolved', paths: resolution.paths }
}

/** Adds one source row's mapping to the counts. */
export function countResolution(counts: DrugResolutionCounts, mapping: DrugMapping, rows = 1): void {
  switch (mapping.outcome) {
    case 'resolved':
      counts.resolved += rows
      if ((mapping.ingredients?.length ?? 1) > 1) counts.combination += rows
      break
    case 'non-drug':
      counts.nonDrug += rows
      break
    case 'ambiguous':
      counts.ambiguous += rows
      break
    case 'unresolved':
      counts.unresolved += rows
      if (mapping.paths?.[0] === 'no-name') counts.noName += rows
      break
    default:
      return
  }
  const key = (mapping.paths ?? [mapping.outcome ?? 'unknown']).join('+')
  counts.byPath[key] = (counts.byPath[key] ?? 0) + rows
}
