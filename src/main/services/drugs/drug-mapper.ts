// The medications row's ATC fields, and the code helpers the importers share. Drug names are mapped by
// the one drug resolver (services/drugs: ResolverDrugMapper gives the importers this shape); the name
// tables that used to live here (mimic_drug_to_atc, normalised names, WHO names by first code) were
// folded into it, so there is one way to map a name.
import type { DrugMappingMethod } from '../../../shared/domain/patient'

export interface DrugMapping {
  atc5: string | null
  /** ATC level 3, four characters (e.g. N02B). */
  atc3: string | null
  method: DrugMappingMethod
  /** Every ingredient of a combination product (the drug resolver); one stored row each. */
  ingredients?: Array<{ atc5: string; atc3: string }>
  /** The drug resolver's outcome and resolution paths, for the import report. */
  outcome?: 'resolved' | 'non-drug' | 'ambiguous' | 'unresolved'
  paths?: string[]
}

export const UNMAPPED: DrugMapping = Object.freeze({ atc5: null, atc3: null, method: 'unmapped' })

const ATC_CODE = /^[A-Z]\d\d[A-Z](?:[A-Z](?:\d\d)?)?$/

/** A usable ATC code: level 3 (4 characters), 4 (5) or 5 (7). Level 1-2 codes cannot give a class. */
export function isClassLevelAtc(code: string): boolean {
  return ATC_CODE.test(code)
}

/** NDCs as MIMIC writes them (11 digits) or with dashes in 4-4-2, 5-3-2 or 5-4-1 form → 11 digits. */
export function normaliseNdc(raw: string): string | null {
  const text = raw.trim()
  if (text === '' || /^0+$/.test(text)) return null
  if (text.includes('-')) {
    const parts = text.split('-')
    if (parts.length !== 3 || parts.some((p) => !/^\d+$/.test(p))) return null
    const [labeler, product, pack] = parts as [string, string, string]
    return labeler.padStart(5, '0') + product.padStart(4, '0') + pack.padStart(2, '0')
  }
  if (!/^\d+$/.test(text) || text.length > 11) return null
  return text.padStart(11, '0')
}

/** GSN cells hold one or more space-separated 6-digit numbers ("027413 001723 "). */
export function splitGsn(raw: string): string[] {
  const out: string[] = []
  for (const part of raw.split(/[\s,;]+/)) if (/^\d{1,6}$/.test(part)) out.push(part.padStart(6, '0'))
  return out
}

export interface DrugRow {
  name: string
  ndc?: string | null
  gsn?: string | null
}
