// Age at a visit, as every importer computes it: whole years when the visit began, top-coded at 90 ("90 or
// older") as the public sources do for privacy (MIMIC-IV anchor_age 91, eICU "> 89", MIMIC-III birth dates
// shifted ~300 years back), or unknown with the reason. No birth date is stored (db/migrations.ts, version 6).
import { AGE_TOP_CODE } from '../../../shared/domain/patient'

/** The oldest age an export may state outright; a larger number is an error, not a very old patient. */
export const MAX_STATED_AGE = 120

/** A visit's age, or why it is unknown (counted per reason in the import report). */
export type VisitAge = { age: number; unknown?: undefined } | { age: null; unknown: string }

export const topCode = (years: number): number => Math.min(years, AGE_TOP_CODE)

/**
 * An age stated in a column (eICU `age`, MIMIC-IV `anchor_age`): a whole number 0–120 (above 89 stored as 90),
 * eICU's "> 89" (90), or empty (null). Anything else is the returned problem, for the row's rejection.
 */
export function parseStatedAge(raw: string, column: string): { age: number | null } | { problem: string } {
  const text = raw.trim()
  if (text === '') return { age: null }
  if (/^>\s*89$/.test(text)) return { age: AGE_TOP_CODE }
  if (!/^\d{1,3}$/.test(text) || Number(text) > MAX_STATED_AGE) {
    return { problem: `${column} "${raw}" is not an age (expected a whole number of years 0–${MAX_STATED_AGE}, "> 89" or empty)` }
  }
  return { age: topCode(Number(text)) }
}

/**
 * MIMIC-IV: anchor_age is the age in the (shifted) anchor_year, so the age at an admission is
 * anchor_age + year(admittime) − anchor_year (to within the birthday, which MIMIC-IV does not publish).
 * anchor_age above 89 (MIMIC-IV writes 91) means "over 89 in the anchor year": admissions in or after that
 * year are 90+, earlier ones cannot be told.
 */
export function mimicIvAge(anchorAge: number | null, anchorYear: number | null, admitTime: string): VisitAge {
  if (anchorAge === null || anchorYear === null) return { age: null, unknown: 'no anchor_age and anchor_year for the patient' }
  const years = Number(admitTime.slice(0, 4)) - anchorYear
  if (anchorAge >= AGE_TOP_CODE) {
    return years >= 0 ? { age: AGE_TOP_CODE } : { age: null, unknown: 'over 89 in the anchor year, admitted before it (age cannot be told)' }
  }
  return ageFromYears(anchorAge + years)
}

/** A birth date as precise as the source gives it (FHIR allows YYYY and YYYY-MM). */
export interface BirthDate {
  year: number
  month: number | null
  day: number | null
}

const FHIR_DATE = /^(\d{4})(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01]))?)?$/

/** A FHIR `date` (YYYY, YYYY-MM or YYYY-MM-DD, a real calendar day), or null when it is not one. */
export function parseBirthDate(raw: string): BirthDate | null {
  const m = FHIR_DATE.exec(raw.trim())
  if (!m) return null
  const [, year, month, day] = m
  const birth = { year: Number(year), month: month === undefined ? null : Number(month), day: day === undefined ? null : Number(day) }
  if (birth.day !== null && new Date(Date.UTC(birth.year, birth.month! - 1, birth.day)).getUTCDate() !== birth.day) return null
  return birth
}

/**
 * Whole years completed between `birth` and the visit's start (ISO "YYYY-MM-DD…"). A partial birth date
 * counts from its latest possible day (year only: 31 December; year and month: that month's last day), so
 * the age is never overstated: it is exact or one year low.
 */
export function ageAt(birth: BirthDate, visitStart: string): VisitAge {
  const year = Number(visitStart.slice(0, 4))
  const month = Number(visitStart.slice(5, 7))
  const day = Number(visitStart.slice(8, 10))
  const birthMonth = birth.month ?? 12
  const birthDay = birth.day ?? new Date(Date.UTC(birth.year, birthMonth, 0)).getUTCDate()
  const beforeBirthday = month < birthMonth || (month === birthMonth && day < birthDay)
  const years = year - birth.year - (beforeBirthday ? 1 : 0)
  if (years < 0) {
    // Before the latest possible birthday but not before the earliest (a partial date): in the first year.
    const [firstMonth, firstDay] = [birth.month ?? 1, birth.day ?? 1]
    const notBeforeBirth = year > birth.year || (year === birth.year && (month > firstMonth || (month === firstMonth && day >= firstDay)))
    if (notBeforeBirth) return { age: 0 }
  }
  return ageFromYears(years)
}

function ageFromYears(years: number): VisitAge {
  return years < 0 ? { age: null, unknown: 'visit before the date of birth the source gives' } : { age: topCode(years) }
}
