// Maps a prescription row to ATC with the open mapping tables in <dataDir>/knowledge/mappings.
//
// Precedence, chosen by comparing the tables on the MIMIC-IV demo's 18,087 prescription rows (the
// name table covers 94% of them, the GSN table 86%, the NDC table 51%, all of which also have a GSN):
//   1. The drug name exactly as in mimic_drug_to_atc (a table curated for MIMIC's own drug names).
//      Where it and the GSN table both map a row they agree on the ATC3 class for 99.2% of rows (after
//      the local-use correction below); in the 0.8% where they differ the name is mostly right: IV
//      magnesium sulfate A12CC02 (GSN: A06AD04, a laxative), morphine N02AA01 (GSN: A07DA52),
//      isosorbide mononitrate C01DA (GSN: N06AA02).
//   2. GSN → ATC (gsn_atc_ndc_mapping): a coded product identifier, for names the curated table
//      does not know (a hospital's own export).
//   3. NDC → ATC3 (ndc_to_atc3, MoleRec's RxNorm route): coded but ATC level 3 only, and it disagrees
//      with the GSN class on 11% of the rows both map ("Vancomycin" → A07A whatever the route).
//   4. The name normalised (case, packaging, dose, unit, form and route words, salts, brackets, ward
//      abbreviations, word order), then WHO ATC substance names: eICU's free text ("METOPROLOL
//      TARTRATE 25 MG PO TABS") has no codes, so this is its main route.
// A lower-precedence table still supplies the ATC5 when the chosen one gives only a class (an NDC
// gives ATC3) and both agree on that class. The tables give a substance with several ATC codes its
// alphabetically first one, often a local-use class (aspirin → A01AD05): systemicUnlessLocal() moves
// such rows to the substance's systemic class unless the name says local use (4.4% of MIMIC-IV rows,
// 6.8% of named eICU rows). Rows that map nowhere are 'unmapped' and kept.
import type { DrugMappingMethod } from '../../../shared/domain/patient'
import { bracketedAliases, drugNameCandidates, drugNameKey } from './drug-names'

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

export interface DrugMappingTables {
  /** 11-digit NDC → ATC3. */
  ndcToAtc3: Map<string, string>
  /** 6-digit GSN → ATC code (level 3 to 5). */
  gsnToAtc: Map<string, string>
  /** mimic_drug_to_atc as given: lower-cased name → ATC. */
  exactNames: Map<string, string>
  /** Normalised name key (drugNameKey) → ATC, the most common code among names sharing the key. */
  normalisedNames: Map<string, string>
  /** Bracketed brand/generic names in the name table ("TraMADOL (Ultram)" → ultram). */
  aliasNames: Map<string, string>
  /** WHO ATC level-5 substance names → ATC5. */
  whoNames: Map<string, string>
  /** Sorted-token keys of the name table and WHO names, for word-order variants ("aspart insulin"). */
  wordSetNames: Map<string, string>
  /**
   * ATC5 code → every ATC5 code of the same WHO substance name, principal use first: codes with an
   * oral DDD, then the rest, each in code order (aspirin: B01AC06, N02BA01, A01AD05).
   */
  sameSubstance: Map<string, string[]>
  /** ATC5 codes for which the WHO index defines an oral DDD (the substance's systemic use by mouth). */
  oralDdd: Set<string>
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

export class DrugMapper {
  /** name → gsn → ndc → mapping: nested so a lookup needs no key concatenation (millions of rows). */
  private readonly cache = new Map<string, Map<string, Map<string, DrugMapping>>>()
  private cached = 0
  private readonly nameCache = new Map<string, string | null>()

  constructor(private readonly tables: DrugMappingTables) {}

  /** The ATC mapping of one prescription row; results are cached by (ndc, gsn, name). */
  map(row: DrugRow): DrugMapping {
    const ndc = row.ndc ?? ''
    const gsn = row.gsn ?? ''
    let byGsn = this.cache.get(row.name)
    const byNdc = byGsn?.get(gsn)
    const hit = byNdc?.get(ndc)
    if (hit) return hit
    const result = this.resolve(row.name, ndc, gsn)
    if (this.cached > 500_000) {
      // Bounded memory whatever the input (real exports have a few hundred thousand combinations at most).
      this.cache.clear()
      this.cached = 0
      byGsn = undefined
    }
    if (!byGsn) this.cache.set(row.name, (byGsn = new Map()))
    let ndcs = byGsn.get(gsn)
    if (!ndcs) byGsn.set(gsn, (ndcs = new Map()))
    ndcs.set(ndc, result)
    this.cached++
    return result
  }

  private resolve(name: string, ndcRaw: string, gsnRaw: string): DrugMapping {
    const curated = this.tables.exactNames.get(name.trim().toLowerCase())
    if (curated) return toMapping(this.systemicUnlessLocal(curated, name), 'name')
    for (const gsn of splitGsn(gsnRaw)) {
      const atc = this.tables.gsnToAtc.get(gsn)
      if (atc) return this.withAtc5FromName(atc, name, 'gsn')
    }
    const ndc = normaliseNdc(ndcRaw)
    const atc3 = ndc ? this.tables.ndcToAtc3.get(ndc) : undefined
    if (atc3) return this.withAtc5FromName(atc3, name, 'ndc')
    const byName = this.lookupName(name)
    if (byName) return toMapping(this.systemicUnlessLocal(byName, name), 'name')
    return UNMAPPED
  }

  private withAtc5FromName(code: string, name: string, method: DrugMappingMethod): DrugMapping {
    if (code.length < 7) {
      const byName = this.lookupName(name)
      if (byName && byName.length === 7 && byName.startsWith(code)) return toMapping(this.systemicUnlessLocal(byName, name), method)
    }
    return toMapping(this.systemicUnlessLocal(code, name), method)
  }

  /**
   * The mapping tables give a substance with several ATC codes its alphabetically first one:
   * aspirin → A01AD05 (stomatological), diltiazem → C05AE03 (anal fissures), ibuprofen → C01EB16
   * (ductus arteriosus closure, injection only), heparin → S01XA14 (ophthalmic). Unless the drug's name
   * says it is used locally (eye drops, cream, rectal …), a local-use code, or a code without an oral
   * DDD where the same substance has one, is replaced by the substance's principal code: the first
   * non-local code with an oral DDD in the WHO index, else the first non-local code (B01AC06,
   * C08DB01, M01AE01, B01AB01).
   */
  systemicUnlessLocal(code: string, name: string): string {
    if (code.length !== 7 || hasLocalRoute(name)) return code
    const alternatives = this.tables.sameSubstance.get(code)
    if (!alternatives) return code
    const principal = alternatives.find((other) => !isLocalUseCode(other, name))
    if (!principal) return code
    if (isLocalUseCode(code, name)) return principal
    return !this.tables.oralDdd.has(code) && this.tables.oralDdd.has(principal) ? principal : code
  }

  /** The ATC code for a drug name (any level from 3), or null. */
  lookupName(name: string): string | null {
    const cached = this.nameCache.get(name)
    if (cached !== undefined) return cached
    const found = this.findName(name)
    if (this.nameCache.size > 500_000) this.nameCache.clear()
    this.nameCache.set(name, found)
    return found
  }

  private findName(name: string): string | null {
    const { exactNames, normalisedNames, aliasNames, whoNames } = this.tables
    const trimmed = name.trim()
    if (trimmed === '') return null
    const exact = exactNames.get(trimmed.toLowerCase())
    if (exact) return exact
    const candidates = drugNameCandidates(trimmed)
    for (const key of candidates) {
      const atc = normalisedNames.get(key) ?? aliasNames.get(key) ?? whoNames.get(key)
      if (atc) return atc
    }
    for (const key of candidates.slice(0, 2)) {
      const atc = this.tables.wordSetNames.get(wordSetKey(key))
      if (atc) return atc
    }
    // "Tylenol (acetaminophen)": the bracketed text may name the substance.
    for (const alias of bracketedAliases(trimmed)) {
      for (const key of drugNameCandidates(alias)) {
        const atc = normalisedNames.get(key) ?? whoNames.get(key)
        if (atc) return atc
      }
    }
    return null
  }
}

/** ATC groups of drugs that act where applied: mouth, skin, eye, ear, nose, throat, vagina, rectum, gut. */
const LOCAL_USE_GROUPS = /^(?:A01|A07E|C05|D01A|D0[2-46-9]|D05A|D10A|D11|G01|R01|R02|S0[1-3])/
/** Words of a drug name that mean local use, so a local-use code is right for it. */
const LOCAL_ROUTE_WORDS = new Set(
  'ophth ophthalmic opth oph eye eyes otic ear nasal nose mt topical top cream crm powder patch spray wash scrub soap irrigation film oint ointment gel jelly lotion mouthwash mouth rinse swish lozenge troche vaginal rectal supp suppository enema drops gtt paste foam shampoo dental'.split(' ')
)
const ORAL_WORDS = new Set('po oral tab tabs tablet tablets cap caps capsule capsules'.split(' '))

function nameWords(name: string): string[] {
  return name.toLowerCase().split(/[^a-z]+/)
}

function hasLocalRoute(name: string): boolean {
  return nameWords(name).some((w) => LOCAL_ROUTE_WORDS.has(w))
}

/** Intestinal anti-infectives (A07A: oral vancomycin) are local only when not taken by mouth. */
function isLocalUseCode(code: string, name: string): boolean {
  if (LOCAL_USE_GROUPS.test(code)) return true
  return code.startsWith('A07A') && !nameWords(name).some((w) => ORAL_WORDS.has(w))
}

/** Tokens sorted, so word order does not matter. */
function wordSetKey(key: string): string {
  return key.split(' ').sort().join(' ')
}

function toMapping(code: string, method: DrugMappingMethod): DrugMapping {
  return { atc5: code.length === 7 ? code : null, atc3: code.slice(0, 4), method }
}

/** Builds the name dictionaries from the name table rows and the WHO level-5 names. */
export function buildNameDictionaries(
  nameRows: Iterable<[name: string, atc: string]>,
  whoLevel5: Iterable<[code: string, name: string]>,
  oralDdd: ReadonlySet<string> = new Set()
): Pick<DrugMappingTables, 'exactNames' | 'normalisedNames' | 'aliasNames' | 'whoNames' | 'wordSetNames' | 'sameSubstance' | 'oralDdd'> {
  const exactNames = new Map<string, string>()
  const normalisedVotes = new Map<string, Map<string, number>>()
  const aliasVotes = new Map<string, Map<string, number>>()
  const usage = new Map<string, number>()
  const vote = (votes: Map<string, Map<string, number>>, key: string, atc: string): void => {
    if (key === '') return
    const counts = votes.get(key) ?? new Map<string, number>()
    counts.set(atc, (counts.get(atc) ?? 0) + 1)
    votes.set(key, counts)
  }
  for (const [name, atc] of nameRows) {
    if (!isClassLevelAtc(atc)) continue
    const lower = name.trim().toLowerCase()
    if (!exactNames.has(lower)) exactNames.set(lower, atc)
    vote(normalisedVotes, drugNameKey(name), atc)
    for (const alias of bracketedAliases(name)) vote(aliasVotes, alias, atc)
    usage.set(atc, (usage.get(atc) ?? 0) + 1)
  }
  // A WHO substance name can sit in several classes (dexamethasone: A01AC02, H02AB02, S01BA01, …):
  // take the class the name table uses most, then the lowest code, so the choice is stable.
  const whoVotes = new Map<string, string[]>()
  const codesOfName = new Map<string, string[]>()
  for (const [code, name] of whoLevel5) {
    if (code.length !== 7) continue
    const substance = name.trim().toLowerCase()
    const codes = codesOfName.get(substance) ?? []
    if (!codes.includes(code)) codes.push(code)
    codesOfName.set(substance, codes)
    if (code.length !== 7 || !isClassLevelAtc(code) || /combination|various|other/i.test(name)) continue
    const key = drugNameKey(name)
    if (key === '') continue
    const list = whoVotes.get(key) ?? []
    list.push(code)
    whoVotes.set(key, list)
  }
  const whoNames = new Map<string, string>()
  for (const [key, codes] of whoVotes) {
    codes.sort((a, b) => (usage.get(b) ?? 0) - (usage.get(a) ?? 0) || a.localeCompare(b))
    whoNames.set(key, codes[0]!)
  }
  const normalisedNames = majority(normalisedVotes)
  const wordSetNames = new Map<string, string>()
  for (const names of [normalisedNames, whoNames]) {
    for (const [key, atc] of names) {
      const words = wordSetKey(key)
      if (key.includes(' ') && !wordSetNames.has(words)) wordSetNames.set(words, atc)
    }
  }
  const sameSubstance = new Map<string, string[]>()
  for (const codes of codesOfName.values()) {
    if (codes.length < 2) continue
    const sorted = [...codes].sort((a, b) => Number(oralDdd.has(b)) - Number(oralDdd.has(a)) || a.localeCompare(b))
    for (const code of sorted) sameSubstance.set(code, sorted)
  }
  return { exactNames, normalisedNames, aliasNames: majority(aliasVotes), whoNames, wordSetNames, sameSubstance, oralDdd: new Set(oralDdd) }
}

function majority(votes: Map<string, Map<string, number>>): Map<string, string> {
  const out = new Map<string, string>()
  for (const [key, counts] of votes) {
    let best: string | null = null
    let bestCount = 0
    for (const [atc, count] of counts) {
      if (count > bestCount || (count === bestCount && best !== null && atc < best)) {
        best = atc
        bestCount = count
      }
    }
    if (best) out.set(key, best)
  }
  return out
}
