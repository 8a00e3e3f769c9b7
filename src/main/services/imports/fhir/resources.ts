import type { CodeSystem } from '../../../../shared/domain/patient'
// Reading the parts of FHIR R4 resources the importer uses: codings, references and times. A resource
// is untyped JSON here; every accessor checks the shape it reads and returns null when it is absent
// or not what R4 says it is.

export type Json = Record<string, unknown>

export const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)
const text = (value: unknown): string | null => (typeof value === 'string' && value.trim() !== '' ? value.trim() : null)

/** Short names for the code systems the models and the patient store already know (the rest keep their URI). */
const SYSTEMS: Record<string, CodeSystem> = {
  'http://snomed.info/sct': 'SNOMED CT',
  'http://hl7.org/fhir/sid/icd-10-cm': 'ICD-10-CM',
  'http://hl7.org/fhir/sid/icd-9-cm': 'ICD-9-CM',
  'http://www.cms.gov/Medicare/Coding/ICD10': 'ICD-10-PCS',
  'http://www.icd10data.com/icd10pcs': 'ICD-10-PCS'
}
/** ICD codes are stored without the dot, as the CSV importers and the models' vocabularies write them. */
const DOTLESS = new Set<CodeSystem>(['ICD-10-CM', 'ICD-9-CM', 'ICD-10-PCS'])
/** Which coding of a concept is stored when it has several: the one the models can read first. */
const PREFERENCE: CodeSystem[] = ['ICD-10-CM', 'ICD-9-CM', 'ICD-10-PCS', 'SNOMED CT']

export interface StoredCode {
  system: CodeSystem
  code: string
  title: string | null
}

function systemOf(uri: string | null): CodeSystem {
  if (uri === null) return 'other'
  const known = SYSTEMS[uri]
  if (known) return known
  return /^(https?|urn):/.test(uri) ? (uri as CodeSystem) : 'other'
}

/** The coding of a CodeableConcept to store (see PREFERENCE), with its display or the concept's text as title. */
export function preferredCode(concept: unknown): StoredCode | null {
  if (!isObject(concept) || !Array.isArray(concept.coding)) return null
  const codes: StoredCode[] = []
  for (const coding of concept.coding) {
    if (!isObject(coding)) continue
    const code = text(coding.code)
    if (code === null) continue
    const system = systemOf(text(coding.system))
    codes.push({ system, code: DOTLESS.has(system) ? code.replace(/\./g, '').toUpperCase() : code, title: text(coding.display) ?? text(concept.text) })
  }
  if (codes.length === 0) return null
  const rank = (c: StoredCode): number => {
    const i = PREFERENCE.indexOf(c.system)
    return i < 0 ? PREFERENCE.length : i
  }
  return codes.reduce((best, c) => (rank(c) < rank(best) ? c : best))
}

/** The code of the first coding with this system URI. */
export function codingOf(concept: unknown, systemUri: string): string | null {
  if (!isObject(concept) || !Array.isArray(concept.coding)) return null
  for (const coding of concept.coding) if (isObject(coding) && coding.system === systemUri && text(coding.code)) return text(coding.code)
  return null
}

export function conceptText(concept: unknown): string | null {
  if (!isObject(concept)) return null
  if (text(concept.text)) return text(concept.text)
  if (Array.isArray(concept.coding)) for (const coding of concept.coding) if (isObject(coding) && text(coding.display)) return text(coding.display)
  return null
}

export function firstCode(concept: unknown): string | null {
  if (!isObject(concept) || !Array.isArray(concept.coding)) return null
  for (const coding of concept.coding) if (isObject(coding) && text(coding.code)) return text(coding.code)
  return null
}

/** A Reference's target as "Type/id" (relative, absolute URL or, in a bundle, a fullUrl), or "#id" for a contained one. */
export function referenceKey(reference: unknown, fullUrls: ReadonlyMap<string, string> | null): string | null {
  if (!isObject(reference)) return null
  const ref = text(reference.reference)
  if (ref === null) return null
  if (ref.startsWith('#')) return ref
  const inBundle = fullUrls?.get(ref)
  if (inBundle) return inBundle
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(ref)
  return m ? `${m[1]}/${m[2]}` : ref
}

const FHIR_DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/

/**
 * A FHIR date or dateTime as the store's ISO text "YYYY-MM-DDTHH:MM:SS" in UTC (partial dates filled
 * with the first month/day), which sorts chronologically; null when absent or invalid.
 */
export function fhirTime(value: unknown): string | null {
  const raw = text(value)
  if (raw === null) return null
  const m = FHIR_DATE_TIME.exec(raw)
  if (!m) return null
  const [, year, month = '01', day = '01', hour, minute, second = '00', zone] = m
  if (hour === undefined) {
    const date = new Date(`${year}-${month}-${day}T00:00:00Z`)
    return Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== `${year}-${month}-${day}` ? null : `${year}-${month}-${day}T00:00:00`
  }
  const date = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}${zone ?? 'Z'}`)
  return Number.isNaN(date.getTime()) ? null : date.toISOString().slice(0, 19)
}

/** The start of a Period, or a dateTime. */
export function startOf(...candidates: unknown[]): string | null {
  for (const candidate of candidates) {
    const time = isObject(candidate) ? fhirTime(candidate.start) : fhirTime(candidate)
    if (time) return time
  }
  return null
}
