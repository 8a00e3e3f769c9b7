import type { CodeKind, CodeSystem } from '../../../shared/domain/patient'
// ICD code checks shared by the importers. Codes are stored without the dot, as MIMIC writes them
// ("4019", "I10"), so codes from every source share one vocabulary and the MIMIC dictionaries' titles.

const ICD9_DIAGNOSIS = /^(?:\d{3,5}|V\d{2,4}|E\d{3,4})$/
const ICD10_CM = /^[A-Z]\d[0-9A-Z]{1,5}$/
const ICD9_PROCEDURE = /^\d{2,4}$/
const ICD10_PCS = /^[0-9A-HJ-NP-Z]{7}$/

/** The code system of a MIMIC row: icd_version 9 or 10 (MIMIC-III has only ICD-9). */
export function mimicCodeSystem(kind: CodeKind, icdVersion: string): CodeSystem | null {
  if (icdVersion === '9') return 'ICD-9-CM'
  if (icdVersion === '10') return kind === 'diagnosis' ? 'ICD-10-CM' : 'ICD-10-PCS'
  return null
}

/** Null when the code is well formed for its system, else why not. */
export function codeProblem(kind: CodeKind, system: CodeSystem, code: string): string | null {
  if (code === '') return 'empty code'
  const pattern =
    system === 'ICD-9-CM'
      ? kind === 'diagnosis'
        ? ICD9_DIAGNOSIS
        : ICD9_PROCEDURE
      : system === 'ICD-10-CM'
        ? ICD10_CM
        : system === 'ICD-10-PCS'
          ? ICD10_PCS
          : null
  if (pattern && !pattern.test(code)) return `"${code}" is not a valid ${system} ${kind} code`
  return null
}

// eICU writes codes with dots, ICD-9-CM first and ICD-10-CM second: "401.9, I10", "965.4, E980.0, T39.1X".
const EICU_ICD9 = /^(?:\d{3}(?:\.\d{1,2})?|V\d{2}(?:\.\d{1,2})?|E\d{3}(?:\.\d)?)$/
const EICU_ICD10 = /^[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?$/

export interface ClassifiedCode {
  system: 'ICD-9-CM' | 'ICD-10-CM'
  code: string
}

/**
 * Splits an eICU `icd9code` cell into classified diagnosis codes. ICD-9 V and E codes overlap the
 * ICD-10 alphabet, so the ICD-9 shapes are tried first (V12.54 or E980.2 are ICD-9; E87.2 with two
 * digits is ICD-10). Tokens that are neither (e.g. the ICD-9 *procedure* code "31.1" that eICU puts on
 * a tracheostomy diagnosis) come back in `invalid`.
 */
export function classifyEicuCodes(cell: string): { codes: ClassifiedCode[]; invalid: string[] } {
  const codes: ClassifiedCode[] = []
  const invalid: string[] = []
  for (const raw of cell.split(',')) {
    const token = raw.trim().toUpperCase()
    if (token === '') continue
    if (EICU_ICD9.test(token)) codes.push({ system: 'ICD-9-CM', code: token.replace('.', '') })
    else if (EICU_ICD10.test(token)) codes.push({ system: 'ICD-10-CM', code: token.replace('.', '') })
    else invalid.push(raw.trim())
  }
  return { codes, invalid }
}
