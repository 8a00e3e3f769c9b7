// Drug-name normalisation and matching of source drug names (DDInter's US-style names) to WHO ATC
// level-5 names (INN). Matching tries, in order: the name as written, a US→INN synonym, the name with
// a trailing salt word removed, and WHO names with their parenthesised part removed or dropped.
import { curatedNameSynonyms } from './load'

/** Lower case, single spaces, no surrounding punctuation; used for every name comparison. */
export function nameKey(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[’`]/g, "'")
    .replace(/\s+/g, ' ')
    .trim()
}

/**
 * US adopted names and synonyms (as DDInter writes them) → the WHO ATC index name or an ATC5 code, from the
 * drug resolver's curated table (resources/drug-synonyms.csv): one name table for the whole app. Only
 * one-to-one names; combination products and ambiguous names are left unmatched on purpose.
 */
export function usToWhoName(key: string): string | undefined {
  return curatedNameSynonyms().get(key)
}

/** Trailing words naming a salt or form rather than the active moiety. */
const SALT_WORDS = new Set([
  'anhydrous', 'acetate', 'besilate', 'bromide', 'calcium', 'carbonate', 'chloride', 'citrate', 'dihydrate',
  'dipropionate', 'disodium', 'etabonate', 'fumarate', 'hyclate', 'hydrobromide', 'hydrochloride', 'iodide',
  'isethionate', 'maleate', 'medoxomil', 'mesilate', 'mesylate', 'mofetil', 'monohydrate', 'phosphate',
  'potassium', 'propionate', 'sodium', 'succinate', 'sulfate', 'sulphate', 'tartrate', 'tosilate', 'tosylate',
  'trisodium'
])

/** Removes one trailing salt word ("ipratropium bromide" → "ipratropium"); null when there is none. */
export function withoutSalt(key: string): string | null {
  const words = key.split(' ')
  if (words.length < 2 || !SALT_WORDS.has(words.at(-1) ?? '')) return null
  const base = words.slice(0, -1).join(' ')
  return base.length >= 4 ? base : null
}

/**
 * Route qualifiers DDInter writes in parentheses, and the ATC code prefixes of that route. A qualified
 * drug ("Timolol (ophthalmic)") is matched only to codes under these prefixes, and the plain name
 * ("Timolol") then excludes them, so eye drops and tablets stay distinct.
 */
export const ROUTE_PREFIXES: Readonly<Record<string, readonly string[]>> = {
  topical: ['D', 'M02', 'C05'],
  topiclal: ['D', 'M02', 'C05'], // DDInter's own typo ("Prilocaine (topiclal)")
  ophthalmic: ['S01'],
  otic: ['S02'],
  nasal: ['R01'],
  'inhalation, rapid acting': ['A10AF', 'R03']
}

/** Splits "Name (qualifier)" into its parts; qualifier null when the name has none. */
export function splitQualifier(key: string): { base: string; qualifier: string | null } {
  const match = /^(.*\S)\s*\(([^()]*)\)$/.exec(key)
  if (!match || !match[1] || match[2] === undefined) return { base: key, qualifier: null }
  return { base: match[1], qualifier: match[2].trim() }
}

/** WHO level-5 names indexed for matching: exact names, and aliases where no exact name exists. */
export class WhoNameIndex {
  private readonly exact = new Map<string, Set<string>>()
  private readonly aliases = new Map<string, Set<string>>()

  constructor(level5: Iterable<{ code: string; name: string }>) {
    for (const { code, name } of level5) {
      const key = nameKey(name)
      const codes = this.exact.get(key) ?? new Set<string>()
      codes.add(code)
      this.exact.set(key, codes)
    }
    for (const [key, codes] of this.exact) {
      if (key.includes(',') || key.includes(' and ')) continue // combination products
      const { base, qualifier } = splitQualifier(key)
      const candidates = qualifier === null ? [withoutSalt(key)] : [`${base} ${qualifier}`, base, withoutSalt(base)]
      // Variants of one substance share an alias: "methyldopa (levorotatory)" and "methyldopa (racemic)"
      // both answer "methyldopa", with the codes of both.
      for (const alias of candidates) {
        if (!alias || this.exact.has(alias)) continue
        const aliasCodes = this.aliases.get(alias) ?? new Set<string>()
        for (const code of codes) aliasCodes.add(code)
        this.aliases.set(alias, aliasCodes)
      }
    }
  }

  /** Codes for a normalised name: exact WHO name first, then an alias. */
  lookup(key: string): { codes: Set<string>; via: 'who' | 'who-alias' } | null {
    const exact = this.exact.get(key)
    if (exact) return { codes: exact, via: 'who' }
    const alias = this.aliases.get(key)
    return alias ? { codes: alias, via: 'who-alias' } : null
  }

  /** Every indexed name with its codes (exact names and aliases), for the name table. */
  *entries(): Generator<{ key: string; codes: Set<string>; via: 'who' | 'who-alias' }> {
    for (const [key, codes] of this.exact) yield { key, codes, via: 'who' }
    for (const [key, codes] of this.aliases) yield { key, codes, via: 'who-alias' }
  }
}

/**
 * How a source name was matched: 'exact' WHO name, 'alias' (a WHO name without its parenthesised part or
 * salt word), 'synonym' (US→INN table), 'salt' (source name without a salt word), 'route' (qualified name
 * limited to the route's ATC codes), 'qualifier-dropped' (a non-route qualifier ignored), or 'unmatched'.
 */
export type MatchMethod = 'exact' | 'alias' | 'synonym' | 'salt' | 'route' | 'qualifier-dropped' | 'unmatched'

/** Finds WHO codes for one unqualified name: as written, via synonym, then without a salt word. */
function lookupPlain(index: WhoNameIndex, key: string): { codes: Set<string>; method: MatchMethod } | null {
  const tries: [string | null | undefined, MatchMethod][] = [
    [key, 'exact'],
    [usToWhoName(key), 'synonym'],
    [withoutSalt(key), 'salt']
  ]
  const stripped = withoutSalt(key)
  if (stripped) tries.push([usToWhoName(stripped), 'synonym'])
  for (const [candidate, method] of tries) {
    if (!candidate) continue
    // A curated name may fix an ATC5 code rather than a substance (niacin: the lipid agent C10AD02).
    if (method === 'synonym' && /^[A-Z]\d\d[A-Z]{2}\d\d$/.test(candidate)) return { codes: new Set([candidate]), method }
    const hit = index.lookup(nameKey(candidate))
    if (hit) return { codes: hit.codes, method: method === 'exact' && hit.via === 'who-alias' ? 'alias' : method }
  }
  return null
}

/**
 * Matches a set of source drug names to WHO ATC-5 codes at once, because a plain name must give up the
 * codes its route-qualified siblings claim (see ROUTE_PREFIXES).
 */
export function matchDrugNames(
  index: WhoNameIndex,
  names: readonly string[]
): Map<string, { codes: string[]; method: MatchMethod }> {
  const result = new Map<string, { codes: string[]; method: MatchMethod }>()
  const claimedByRoute = new Map<string, Set<string>>() // base key → codes taken by its qualified siblings
  const plain: string[] = []
  for (const name of names) {
    const key = nameKey(name)
    const { base, qualifier } = splitQualifier(key)
    if (qualifier === null) {
      plain.push(name)
      continue
    }
    const exact = index.lookup(key)
    if (exact) {
      result.set(name, { codes: [...exact.codes].sort(), method: exact.via === 'who' ? 'exact' : 'alias' })
      continue
    }
    const baseHit = lookupPlain(index, base)
    const prefixes = ROUTE_PREFIXES[qualifier]
    if (!baseHit) {
      // "Polyethylene glycol (3350)" → "polyethylene glycol 3350" is tried via the WHO alias index.
      const joined = index.lookup(`${base} ${qualifier}`)
      result.set(name, joined ? { codes: [...joined.codes].sort(), method: 'qualifier-dropped' } : { codes: [], method: 'unmatched' })
      continue
    }
    if (prefixes) {
      const codes = [...baseHit.codes].filter((c) => prefixes.some((p) => c.startsWith(p))).sort()
      result.set(name, { codes, method: codes.length > 0 ? 'route' : 'unmatched' })
      const claimed = claimedByRoute.get(base) ?? new Set<string>()
      for (const c of codes) claimed.add(c)
      claimedByRoute.set(base, claimed)
    } else {
      result.set(name, { codes: [...baseHit.codes].sort(), method: 'qualifier-dropped' })
    }
  }
  for (const name of plain) {
    const key = nameKey(name)
    const hit = lookupPlain(index, key)
    if (!hit) {
      result.set(name, { codes: [], method: 'unmatched' })
      continue
    }
    const claimed = claimedByRoute.get(key)
    const remaining = [...hit.codes].filter((c) => !claimed?.has(c)).sort()
    result.set(name, { codes: remaining.length > 0 ? remaining : [...hit.codes].sort(), method: hit.method })
  }
  return result
}
