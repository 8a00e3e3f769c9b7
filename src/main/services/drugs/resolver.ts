// The one drug resolver: a raw drug string (plus NDC/GSN/RxNorm/route/form when the source has them)
// → its ingredients, each with the route-appropriate ATC5 code, how it was recognised and a confidence;
// or non-drug (syringes, bags, diluents, flushes, IV carriers); or ambiguous/unresolved with candidates.
//
// Precision first: a wrong drug is worse than "unresolved". So names match whole (never by substring:
// "omeprazole" never finds esomeprazole, "heparin" never enoxaparin), a misspelling is accepted only
// within a small edit distance of exactly one substance, a combination resolves only when every
// ingredient does, and a name that several sources give to different substances is reported ambiguous.
//
// Order for each ingredient phrase: local override (the whole string) → curated abbreviation / US name /
// brand (resources/drug-synonyms.csv) → WHO ATC substance name (INN) → FDA UNII names and brands
// (compiled into the knowledge base) → the same without salt/ester words → a shorter phrase (words
// dropped from the end) → a misspelling of one substance → the source's GSN code (code table).
import { editDistance } from './edit-distance'
import { allLocal, chooseCode, isLocalCode, routeHints, type CodeInfo } from './route'
import { isDoseToken, isSaltStripped, isTransdermal, lookupKey, normaliseText, parseDrugText, phraseKeys, routeOf, SALT_WORDS } from './text'
import type { RxnormEntry } from './rxnorm-table'
import type { Candidate, DrugQuery, DrugResolution, ResolutionPath, ResolvedIngredient, RouteClass } from './types'

/** A curated or compiled name: the substances it stands for (WHO keys) or fixed ATC5 codes. */
export interface NameTarget {
  /** WHO substance key (lookupKey of the WHO name), or null when `atc5` fixes the code. */
  substance: string | null
  /** A fixed ATC5 code (e.g. regular insulin A10AB01), used whatever the route. */
  atc5: string | null
}

export type CuratedKind = 'us-name' | 'abbreviation' | 'brand' | 'synonym' | 'non-drug' | 'ambiguous'

export interface CuratedName {
  kind: CuratedKind
  targets: NameTarget[]
  /** For non-drug and ambiguous entries: why. */
  note: string
}

export interface DrugOverride {
  /** ATC5 codes of the ingredients, or 'non-drug'. */
  target: string[] | 'non-drug'
  reason: string
}

export interface ResolverData {
  /** WHO substance key → its ATC5 codes (single substances only; combinations are split instead). */
  substances: Map<string, string[]>
  /** WHO substance key → the WHO name as written. */
  substanceNames: Map<string, string>
  /** ATC5 → WHO substance key. */
  substanceOfCode: Map<string, string>
  codeInfo: Map<string, CodeInfo>
  curated: Map<string, CuratedName>
  /** Compiled synonyms (FDA UNII names and brands): name key → WHO substance keys, and whether it is a brand. */
  synonyms: Map<string, { substances: string[]; brand: boolean }>
  /** 6-digit GSN → ATC code (levels 3-5). */
  gsnToAtc: Map<string, string>
  /** RxNorm code → the ingredients' ATC5 codes (resources/rxnorm-codes.csv), read before the text. */
  rxnorm: Map<string, RxnormEntry>
  /** Sources the data came from, for reports. */
  sources: string[]
}

const CONFIDENCE: Record<ResolutionPath, number> = {
  override: 1,
  'exact-inn': 0.99,
  'us-name': 0.98,
  abbreviation: 0.95,
  brand: 0.96,
  synonym: 0.93,
  'salt-stripped': 0.97,
  misspelling: 0.8,
  'code-table': 0.75,
  rxnorm: 0.97
}

/** Words that may be left over from a product name without naming an ingredient. */
const FILLER_WORDS = new Set(
  (
    'extra strength maximum max children childrens child junior infant infants adult adults regular plain forte ds ss ' +
    'lock dwell port picc midline hickman cvl crrt iabp impella dialysis hemodialysis priming machine ' +
    'sliding scale scale standard concentration concentrated high low dose dosing titration protocol ' +
    'mini mini-bag plus premix duplex advantage addease addvantage new old stock floor ward emergency ' +
    'liquid-filled filled fast rapid acting long short intermediate delayed ' +
    'diluted dilute undiluted sterile sugar-free sugar free alcohol-free lf sf unflavored flavored cherry grape orange mint ' +
    'vanilla lemon rx otc generic brand multidose single use tablet-coated coated micro dose-pack ' +
    'natural artificial synthetic pure chewables gummy gummies soft softgel gelcap gelcaps caplet caplets ' +
    'bag vial syringe flush needle oral-syringe ea each usp bp in of with for per the hp disperse del rel adv lok peripheral prefill ' +
    'buffered mono di monobasic dibasic'
  ).split(/\s+/)
)

/** Devices and containers: never a drug, and never the reason to map to one (an insulin syringe is not insulin). */
const DEVICE_PATTERN =
  /\b(?:syringes?|needles?|pen needles?|lancets?|swabs?|gauze|dressings?|tubing|catheters?|bags?|empty|diluent|flush|supplies|spacer|aerochamber|glucometer|test strips?|sharps|tegaderm|mini-?bag|vials?|ampules?|containers?|kit|device|filter|cassette|reservoir|pump)\b/g
const DEVICE_ONLY_WORDS = new Set(
  'crtrdg ndl cartridge syringe syringes needle needles pen lancet lancets swab swabs gauze dressing dressings tubing catheter catheters bag bags empty diluent flush supplies spacer aerochamber glucometer test strip strips sharps tegaderm mini-bag minibag vial vials ampule ampules container containers kit device filter cassette reservoir pump for use with intrapleural subq subcut oral'.split(
    ' '
  )
)

/** IV carriers and fluids written with their strength: removed from the string before ingredients are read. */
const CARRIER_PATTERNS: Array<[RegExp, string]> = [
  [/\b(?:0?\.9|0?\.45|0?\.225)\s*%?\s*(?:sodium chloride|nacl|ns|normal saline|saline)\b/g, 'sodium chloride 0.45-0.9% (IV carrier/flush)'],
  [/\b(?:sodium chloride|nacl|normal saline|saline)\s*(?:(?:infusion|injection|inj|solution|soln|iv|bolus)\s+)*(?:0?\.9|0?\.45|0?\.225)\s*%?/g, 'sodium chloride 0.45-0.9% (IV carrier/flush)'],
  [/\b(?:1\/2|half)\s*(?:ns|normal saline)\b/g, 'half-normal saline (IV fluid)'],
  [/\b(?:d5|d10)\s*(?:1\/2|1\/4|0?\.45|0?\.2)?\s*(?:ns|nacl|lr)\b/g, 'dextrose-saline (IV fluid)'],
  [/\b(?:d5w|d5|d-5-w|d 5 w)\b/g, 'dextrose 5% (IV carrier)'],
  [/\bdext\.?\s*5\s*%/g, 'dextrose 5% (IV carrier)'],
  [/\b(?:dextrose|dext)\s*-\s*(?:nacl|sodium chloride)(?:\s*[\d.]+\s*-\s*[\d.]+\s*%)?/g, 'dextrose-saline (IV fluid)'],
  [/\bnormal saline\b/g, 'normal saline (IV carrier/flush)'],
  [/\b(?:saline|nacl|sodium chloride)\s+(?:lock|flush)\b(?:\s*0?\.9\s*%)?/g, 'saline lock/flush'],
  [/\b(?:dextrose|glucose)\s*5\s*%(?:\s*(?:in water|water|w))?|\b5\s*%\s*(?:dextrose|glucose)(?:\s*(?:in water|water))?/g, 'dextrose 5% (IV carrier)'],
  [/\b(?:sterile water|water for injection|bacteriostatic water|swfi|sterile h2o|water for irrigation)\b/g, 'sterile water (diluent)'],
  [/\b(?:bacteriostatic (?:sodium chloride|nacl|saline)|(?:sodium chloride|nacl|saline) bacteriostatic)\b/g, 'bacteriostatic saline (diluent)'],
  // "RINGERS SOLUTION,LACTATED" (the name inverted) before the plain "ringers" below takes only its first half.
  [/\bringers?\s+solution,?\s*lactated\b/g, 'balanced crystalloid (IV fluid)'],
  [/\b(?:lactated ringers?|ringers? lactate|ringers? solution|ringers?|plasma-?lyte(?:\s*[a0-9]+)?|normosol(?:-r)?)\b/g, 'balanced crystalloid (IV fluid)'],
  [/\b(?:sodium chl|sodium cl)\s*0?\.9\s*%/g, 'sodium chloride 0.9% (IV carrier/flush)'],
  [/\bnormal saline\b/g, 'normal saline (IV carrier/flush)'],
  [/\bin\s+(?:water|normal saline)\b/g, 'carrier (in water/saline)'],
  [/\bflushsyrg\b/g, 'flush syringe (device)'],
  [/\b(?:ns|nss|lr)\b/g, 'IV carrier (NS/LR)']
]

export class DrugResolver {
  private readonly cache = new Map<string, DrugResolution>()
  private overrides = new Map<string, DrugOverride>()
  /** Single-word keys for the misspelling search: WHO names and curated names. */
  private readonly fuzzyVocabulary: string[]

  constructor(private readonly data: ResolverData) {
    const words = new Set<string>()
    for (const key of data.substances.keys()) if (key.length >= 5 && !SALT_WORDS.has(key) && !GENERIC_ALONE.has(key)) words.add(key)
    for (const [key, entry] of data.curated) if (key.length >= 5 && entry.kind !== 'non-drug' && entry.kind !== 'ambiguous') words.add(key)
    this.fuzzyVocabulary = [...words]
  }

  /** Local overrides (raw string key → target), from the patient database; replaces the previous set. */
  setOverrides(overrides: Map<string, DrugOverride>): void {
    this.overrides = overrides
    this.cache.clear()
  }

  /** The WHO substance name and codes of an ATC5 code, or null when the index does not list it. */
  substanceOfCode(atc5: string): { name: string; codes: string[] } | null {
    const key = this.data.substanceOfCode.get(atc5)
    if (!key) return null
    return { name: this.data.substanceNames.get(key) ?? key, codes: this.data.substances.get(key) ?? [atc5] }
  }

  isKnownAtc5(code: string): boolean {
    return this.data.codeInfo.has(code)
  }

  resolve(query: DrugQuery): DrugResolution {
    const cacheKey = `${query.text}\u0001${query.rxnorm ?? ''}\u0001${query.ndc ?? ''}\u0001${query.gsn ?? ''}\u0001${query.route ?? ''}\u0001${query.form ?? ''}`
    const hit = this.cache.get(cacheKey)
    if (hit) return hit
    const result = this.resolveUncached(query)
    if (this.cache.size > 200_000) this.cache.clear()
    this.cache.set(cacheKey, result)
    return result
  }

  private resolveUncached(query: DrugQuery): DrugResolution {
    const text = query.text ?? ''
    const override = this.overrides.get(overrideKey(text)) ?? (query.rxnorm ? this.overrides.get(overrideKey(`rxnorm:${query.rxnorm.trim()}`)) : undefined)
    if (override) return this.fromOverride(query, override)
    const coded = query.rxnorm ? this.byRxnorm(query, query.rxnorm.trim()) : null
    if (coded) return coded
    const normal = normaliseText(text)
    if (normal === '') {
      return { status: 'unresolved', input: query, confidence: 0, reason: 'no drug name given', candidates: this.fromGsn(query) }
    }
    // "VANCOMYCIN CONSULT TO PHARMACY": an order for a consult, not a drug given.
    if (/\bconsult\b/.test(normal)) return { status: 'non-drug', input: query, confidence: 0.9, reason: 'a consult order, not a drug given' }
    // An insulin syringe or pen needle is a device, whatever drug it is meant for.
    // ("INSULIN GLARGINE SYRINGE" names the insulin: a prefilled syringe of it, not an empty one.)
    const namedInsulin = /\b(?:glargine|lispro|aspart|detemir|degludec|glulisine|regular|nph|isophane|humalog|novolog|lantus|levemir|humulin|novolin)\b/.test(normal)
    if (/\binsulin\b.*\b(?:syringes?|pen needles?|needles?)\b/.test(normal) && !namedInsulin && !/\b\d+\s*(?:units?|unt)\b.*\/\s*ml/.test(normal)) {
      return { status: 'non-drug', input: query, confidence: 0.98, reason: 'device (insulin syringe or needle)' }
    }
    let remaining = normal
    const carriers: string[] = []
    // Amino acids with dextrose is parenteral nutrition: there the dextrose is a nutrient, not a carrier.
    const nutrition = /\bamino acids?\b/.test(normal)
    for (const [pattern, label] of CARRIER_PATTERNS) {
      if (nutrition && label.startsWith('dextrose')) continue
      remaining = remaining.replace(pattern, () => {
        if (!carriers.includes(label)) carriers.push(label)
        return ' '
      })
    }
    // Plain sodium chloride given into a vein, with no hypertonic strength, is a carrier or fluid.
    if (/^\s*(?:0?\.\d+\s*%\s*)?(?:sodium chloride|nacl)\s*(?:0?\.\d+\s*%)?\s*$/.test(remaining) && routeHints(normal, query.route).parenteral) {
      remaining = ' '
      carriers.push('sodium chloride given IV without a hypertonic strength (IV fluid)')
    }
    // "dextrose" into a vein with no strength: 5% is a carrier, 50% treats hypoglycaemia; the strength decides.
    if (/^\s*(?:dextrose|glucose)\s*$/.test(remaining) && !/\d/.test(normal) && routeHints(normal, query.route).parenteral) {
      return {
        status: 'ambiguous',
        input: query,
        confidence: 0,
        reason: 'dextrose given IV without a strength: a 5-10% carrier or fluid, or a 50% dose for hypoglycaemia',
        candidates: [{ name: 'glucose', atc5: 'V06DC01', why: 'dextrose 50% (hypoglycaemia)' }]
      }
    }
    const curatedWhole = this.data.curated.get(lookupKey(normal))
    if (curatedWhole?.kind === 'non-drug') return { status: 'non-drug', input: query, confidence: 0.98, reason: curatedWhole.note }
    const devices = [...remaining.matchAll(DEVICE_PATTERN)].map((m) => m[0])
    const parsed = parseDrugText(remaining)
    const comments = new Set<string[]>()
    const components = parsed.components
      .map((words, index) => {
        const kept = words.filter((w) => !DEVICE_ONLY_WORDS.has(w))
        if (parsed.comments.has(index)) comments.add(kept)
        return kept
      })
      .filter((words) => words.some((w) => !FILLER_WORDS.has(w)))
      .filter((words) => {
        // A component that starts with a curated non-drug name ("Prismasate (B32 K2)", "Aquaphor Ointment").
        for (let n = words.length; n >= 1; n--) {
          const entry = this.data.curated.get(words.slice(0, n).join(' '))
          if (entry?.kind === 'non-drug') {
            carriers.push(entry.note)
            return false
          }
        }
        return true
      })
    if (components.length === 0) {
      if (carriers.length > 0 || devices.length > 0) {
        const reason = [...carriers, ...devices.map((d) => `device/container (${d})`)].join('; ')
        return { status: 'non-drug', input: query, confidence: 0.97, reason }
      }
      // Only a bracketed name ("(Ultram)") or nothing recognisable.
      if (parsed.bracketed.length === 0) {
        return { status: 'unresolved', input: query, confidence: 0, reason: 'no ingredient words left after doses, forms and packaging', candidates: this.fromGsn(query) }
      }
    }
    const route = this.routeFor(query, normal)
    const hints = routeHints(normal, query.route)
    // A drug mixed in NS/D5W is given into a vein (IV sodium phosphate B05XA09, not the laxative A06AD17).
    if (carriers.length > 0 && !hints.oral) hints.parenteral = true
    const main = components.length > 0 ? this.resolveComponents(components, route, hints, normal, query, comments) : null
    if (main && main.status === 'resolved') return main
    for (const alias of parsed.bracketed) {
      const aliasParsed = parseDrugText(alias)
      const aliasComponents = aliasParsed.components.filter((words) => words.some((w) => !FILLER_WORDS.has(w)))
      if (aliasComponents.length === 0) continue
      const viaAlias = this.resolveComponents(aliasComponents, route, hints, normal, query)
      if (viaAlias.status === 'resolved') return { ...viaAlias, notes: [...viaAlias.notes, `matched through the bracketed name "${alias}"`] }
    }
    if (main) {
      if (main.status === 'unresolved') {
        const coded = this.byGsn(query, route, hints)
        if (coded) return coded
      }
      return main
    }
    return { status: 'unresolved', input: query, confidence: 0, reason: 'no ingredient recognised', candidates: this.fromGsn(query) }
  }

  private routeFor(query: DrugQuery, normal: string): RouteClass | null {
    let route = routeOf(normal, query.route, query.form)
    // Transdermal systems (nicotine, fentanyl, hormones) act systemically.
    if (route === 'topical' && isTransdermal(normal, query.route)) route = 'systemic'
    return route
  }

  private resolveComponents(
    components: string[][],
    route: RouteClass | null,
    hints: { oral: boolean; parenteral: boolean },
    normal: string,
    query: DrugQuery,
    comments: ReadonlySet<string[]> = new Set()
  ): DrugResolution {
    // The whole phrase first: a curated combination brand ("duoneb", "percocet") or a hyphenated name.
    if (components.length > 1) {
      const whole = this.matchPhrase(components.flat())
      if (whole && whole.kind === 'match' && whole.words === components.flat().length) return this.build(query, [whole], route, hints, normal, false)
    }
    const matches: ComponentMatch[] = []
    const failed: string[] = []
    const ambiguous: { phrase: string; candidates: Candidate[] }[] = []
    const leftOut: string[] = []
    for (const words of components) {
      const match = this.matchComponent(words)
      if (!match) {
        if (comments.has(words)) leftOut.push(words.join(' '))
        else failed.push(words.join(' '))
        continue
      }
      if (match.kind === 'ambiguous') {
        ambiguous.push({ phrase: words.join(' '), candidates: match.candidates })
        continue
      }
      matches.push(match)
    }
    const partial: Candidate[] = matches.flatMap((m) =>
      m.targets.map((t) => ({ name: this.targetName(t), atc5: t.atc5 ?? this.data.substances.get(t.substance!)?.[0] ?? null, why: `recognised "${m.matched}" (${m.path})` }))
    )
    if (ambiguous.length > 0) {
      return {
        status: 'ambiguous',
        input: query,
        confidence: 0,
        reason: ambiguous.map((a) => `"${a.phrase}" could be ${a.candidates.map((c) => c.name).join(' or ')}`).join('; '),
        candidates: [...ambiguous.flatMap((a) => a.candidates), ...partial]
      }
    }
    if (failed.length > 0) {
      const suggestions = failed.flatMap((phrase) => this.suggest(phrase))
      return {
        status: 'unresolved',
        input: query,
        confidence: 0,
        reason: matches.length > 0 ? `part of a combination not recognised: ${failed.map((f) => `"${f}"`).join(', ')}` : `not a drug name the resolver knows: ${failed.map((f) => `"${f}"`).join(', ')}`,
        candidates: [...partial, ...suggestions]
      }
    }
    if (matches.length === 0) {
      return { status: 'unresolved', input: query, confidence: 0, reason: `not a drug name the resolver knows: ${leftOut.map((f) => `"${f}"`).join(', ')}`, candidates: [] }
    }
    const result = this.build(query, matches, route, hints, normal, matches.length > 1)
    if (result.status === 'resolved' && leftOut.length > 0) result.notes.push(`left out as a comment (names no drug): ${leftOut.map((f) => `"${f}"`).join(', ')}`)
    return result
  }

  private build(
    query: DrugQuery,
    matches: ComponentMatch[],
    route: RouteClass | null,
    hints: { oral: boolean; parenteral: boolean },
    normal: string,
    split: boolean
  ): DrugResolution {
    const ingredients: ResolvedIngredient[] = []
    const notes: string[] = []
    let chosenRoute: RouteClass = 'systemic'
    // No route given: a substance that is only ever inhaled (ipratropium R03BB01) makes the product inhaled
    // ("ALBUTEROL/IPRATROPIUM" is the nebuliser, not oral salbutamol).
    if (route === null) {
      const inhaledOnly = matches.some((m) =>
        m.targets.some((t) => {
          const codes = t.substance ? (this.data.substances.get(t.substance) ?? []) : []
          return codes.length > 0 && codes.every((c) => /^R03[AB]|^R01/.test(c)) && codes.some((c) => /^R03[AB]/.test(c))
        })
      )
      if (inhaledOnly) route = 'inhaled'
    }
    for (const match of matches) {
      for (const target of match.targets) {
        let atc5: string
        let name: string
        let substanceCodes: string[]
        if (target.atc5) {
          atc5 = target.atc5
          const key = this.data.substanceOfCode.get(atc5)
          name = (key && this.data.substanceNames.get(key)) ?? atc5
          substanceCodes = (key && this.data.substances.get(key)) || [atc5]
        } else {
          const codes = this.data.substances.get(target.substance!) ?? []
          if (codes.length === 0) continue
          name = this.data.substanceNames.get(target.substance!) ?? target.substance!
          // Only local uses (skin, eye, mouth…) and nothing says which: ambiguous, never a guess.
          if (route === null && allLocal(codes) && new Set(codes.map((c) => c.slice(0, 3))).size > 1 && !codes.some((c) => LOCAL_ANAESTHETIC.test(c))) {
            return {
              status: 'ambiguous',
              input: query,
              confidence: 0,
              reason: `"${match.matched}" (${name}) is used on several sites (${codes.join(', ')}) and the string names no route`,
              candidates: codes.map((c) => ({ name, atc5: c, why: 'a local-use code of the substance' }))
            }
          }
          // No route and no form: a substance used on skin, eye, ear or throat and otherwise only by
          // injection (bacitracin, gentamicin) is more often the local product; say so rather than guess.
          if (route === null && !hints.oral && !hints.parenteral && this.localAndInjectedOnly(codes)) {
            return {
              status: 'ambiguous',
              input: query,
              confidence: 0,
              reason: `"${match.matched}" (${name}) is used on several sites and by injection (${codes.join(', ')}) and the string names no route`,
              candidates: codes.map((c) => ({ name, atc5: c, why: isLocalCode(c) ? 'a local-use code of the substance' : 'the systemic code' }))
            }
          }
          substanceCodes = codes
          const substanceRoute = this.substanceRoute(route, codes, normal, query.route)
          // A rectal cream or ointment (haemorrhoids) is C05, not an intestinal enema code (A07E).
          const codeRoute = substanceRoute === 'rectal' && /\b(?:cream|crm|oint|ointment)\b/.test(normal) ? 'rectal-cream' : substanceRoute
          const choice = chooseCode(codes, codeRoute, this.data.codeInfo, { ...hints, transdermal: isTransdermal(normal, query.route) })
          atc5 = choice.atc5
          // Saline or another electrolyte by a local route (nebulised hypertonic saline): its systemic codes
          // are mineral supplements and IV solutions, never what a local product is; say so, do not guess.
          if (choice.fallback && codes.every((c) => /^(?:A12|B05)/.test(c) || isLocalCode(c))) {
            return {
              status: 'unresolved',
              input: query,
              confidence: 0,
              reason: `${name} has no ${substanceRoute} code in the WHO index, and its systemic codes (${codes.filter((c) => !isLocalCode(c)).join(', ')}) are electrolytes or IV solutions`,
              candidates: []
            }
          }
          if (choice.fallback) notes.push(`${name}: no ${substanceRoute} code in the WHO index, systemic ${atc5} used`)
          if (substanceRoute && substanceRoute !== 'systemic' && !choice.fallback) chosenRoute = substanceRoute
        }
        if (ingredients.some((i) => i.atc5 === atc5)) continue
        ingredients.push({ name, atc5, substanceCodes, path: match.path, matched: match.matched })
      }
    }
    if (ingredients.length === 0) {
      return { status: 'unresolved', input: query, confidence: 0, reason: 'recognised names have no ATC code', candidates: [] }
    }
    const paths: string[] = [...new Set(ingredients.map((i) => i.path))]
    if (split || ingredients.length > 1) paths.push('combination')
    let confidence = Math.min(...matches.map((m) => m.confidence))
    if (split) confidence *= 0.98
    return {
      status: 'resolved',
      input: query,
      confidence: Math.round(confidence * 1000) / 1000,
      ingredients,
      route: chosenRoute,
      combination: ingredients.length > 1,
      paths,
      notes
    }
  }

  /**
   * Lidocaine-like substances (with a local-anaesthetic N01B code): a strength in %, adrenaline, a jelly,
   * patch or infiltration route means local anaesthesia, never the IV antiarrhythmic.
   */
  private substanceRoute(route: RouteClass | null, codes: readonly string[], normal: string, sourceRoute?: string | null): RouteClass | null {
    // Amide and ester local anaesthetics only (N01BA/BB/BC): capsaicin's N01BX04 is the high-strength patch,
    // and a capsaicin cream is the topical analgesic M02AB01.
    if (!codes.some((c) => LOCAL_ANAESTHETIC.test(c))) return route
    if (route === 'ophthalmic' || route === 'otic' || route === 'nasal' || route === 'mouth' || route === 'rectal' || route === 'inhaled') return route
    const text = `${normal} ${normaliseText(sourceRoute ?? '')}`
    if (route === 'topical' && /\b(?:crm|cream|oint|ointment|lotion)\b/.test(text)) return 'topical'
    // Lidocaine by mouth is a mouth/throat anaesthetic (viscous, "Maalox/Lidocaine"), never swallowed systemically.
    if (/\b(?:po|oral|orally|swish|mouthwash)\b/.test(text)) return 'mouth'
    if (route === 'topical' || /%|\b(?:epinephrine|epi|adrenaline|jelly|jel|jell|patch|plaster|pf|mpf|local|infiltration|id|periphnerve|ed|epidural|nerve block|sc|subq|subcut|prilocaine)\b/.test(text)) return 'local-anaesthetic'
    // The antiarrhythmic only when given into a vein (drip, IV); otherwise the local anaesthetic.
    if (/\b(?:iv|intravenous|intraven|drip|infusion|ivpb|ivp|bolus)\b/.test(text)) return route
    return 'local-anaesthetic'
  }

  /**
   * Local codes on three or more sites, and systemic codes without an oral DDD (injected, or no DDD at all).
   * Local anaesthetics are left to substanceRoute, which reads their strength and form.
   */
  private localAndInjectedOnly(codes: readonly string[]): boolean {
    if (codes.some((c) => LOCAL_ANAESTHETIC.test(c))) return false
    const local = codes.filter((c) => isLocalCode(c))
    const systemic = codes.filter((c) => !isLocalCode(c))
    if (new Set(local.map((c) => c.slice(0, 3))).size < 3 || systemic.length === 0) return false
    return systemic.every((c) => {
      const routes = this.data.codeInfo.get(c)?.dddRoutes
      return !routes?.has('O')
    })
  }

  private targetName(target: NameTarget): string {
    if (target.substance) return this.data.substanceNames.get(target.substance) ?? target.substance
    const key = target.atc5 ? this.data.substanceOfCode.get(target.atc5) : undefined
    return (key && this.data.substanceNames.get(key)) ?? target.atc5 ?? '?'
  }

  /** One ingredient phrase: the whole phrase, then shorter prefixes, then a misspelling. */
  private matchComponent(words: readonly string[]): ComponentMatch | AmbiguousMatch | null {
    const direct = this.matchPhrase(words)
    if (direct) return direct
    return this.matchMisspelling(words)
  }

  /** Leftmost-longest phrase of `words` that names a substance, trying each start position. */
  private matchPhrase(words: readonly string[]): ComponentMatch | AmbiguousMatch | null {
    for (let start = 0; start < words.length; start++) {
      // A leading word may be skipped only when it cannot be part of a name (filler, salt).
      // ("INSULIN HUMALOG": a generic word before a brand may be skipped too.)
      const skipped = words[start - 1]
      if (start > 0 && !(FILLER_WORDS.has(skipped!) || SALT_WORDS.has(skipped!) || GENERIC_ALONE.has(skipped!) || isDoseToken(skipped!))) break
      for (let end = words.length; end > start; end--) {
        const slice = words.slice(start, end)
        const rest = words.slice(end)
        // What is left after the phrase must be filler, salts or unknown short words, not another drug name.
        const hit = this.lookupWords(slice)
        if (!hit) continue
        if (hit.kind === 'ambiguous') return hit
        if (rest.some((w) => this.namesSubstance(w))) continue
        // "carbamide peroxide" is not carbamide: a chemical word after the name changes the substance.
        if (rest.some((w) => CHEMICAL_WORDS.has(w))) continue
        return { ...hit, words: end - start }
      }
    }
    return null
  }

  /** True when a single word is itself a substance name (so it must not be swallowed as a leftover). */
  private namesSubstance(word: string): boolean {
    // "2%/timolol": a leftover token hiding another ingredient must not be swallowed.
    return word.split(/[^a-z]+/).some((part) => {
      if (part.length < 4 || SALT_WORDS.has(part) || FILLER_WORDS.has(part)) return false
      return this.data.substances.has(part) || (this.data.curated.has(part) && this.data.curated.get(part)!.kind !== 'non-drug')
    })
  }

  private lookupWords(words: readonly string[]): ComponentMatch | AmbiguousMatch | null {
    const asWritten = words.join(' ')
    const keys = phraseKeys(words)
    // Curated names and WHO names (as written, then without salts) before the compiled synonyms, so
    // "amlodipine besylate" is amlodipine, not whatever else FDA files under that salt.
    for (const key of keys) {
      const stripped = isSaltStripped(words, key)
      const curated = this.data.curated.get(key)
      if (curated && curated.kind !== 'non-drug') {
        if (curated.kind === 'ambiguous') return { kind: 'ambiguous', candidates: curated.targets.map((t) => ({ name: this.targetName(t), atc5: t.atc5, why: curated.note })) }
        const path: ResolutionPath = stripped ? 'salt-stripped' : curated.kind === 'synonym' ? 'synonym' : curated.kind
        return { kind: 'match', targets: curated.targets, path, matched: asWritten, confidence: CONFIDENCE[path], words: words.length }
      }
      // A lone salt or generic word never names a drug ("sodium", "vitamin").
      if (!key.includes(' ') && (SALT_WORDS.has(key) || GENERIC_ALONE.has(key))) continue
      if (this.data.substances.has(key)) {
        const path: ResolutionPath = stripped ? 'salt-stripped' : 'exact-inn'
        return { kind: 'match', targets: [{ substance: key, atc5: null }], path, matched: asWritten, confidence: CONFIDENCE[path], words: words.length }
      }
    }
    for (const key of keys) {
      if (key.length < 4 || (!key.includes(' ') && (SALT_WORDS.has(key) || GENERIC_ALONE.has(key)))) continue
      const synonym = this.data.synonyms.get(key)
      if (!synonym) continue
      const stripped = isSaltStripped(words, key)
      const distinctCodes = new Set(synonym.substances.map((sub) => (this.data.substances.get(sub) ?? []).join(',')))
      if (synonym.substances.length > 1 && distinctCodes.size > 1) {
        return {
          kind: 'ambiguous',
          candidates: synonym.substances.map((s) => ({ name: this.data.substanceNames.get(s) ?? s, atc5: this.data.substances.get(s)?.[0] ?? null, why: `FDA UNII name "${key}"` }))
        }
      }
      const path: ResolutionPath = stripped ? 'salt-stripped' : synonym.brand ? 'brand' : 'synonym'
      return { kind: 'match', targets: [{ substance: synonym.substances[0]!, atc5: null }], path, matched: asWritten, confidence: CONFIDENCE[path], words: words.length }
    }
    return null
  }

  /** A misspelt word within a small edit distance of exactly one substance ("simvistatin"). */
  private matchMisspelling(words: readonly string[]): ComponentMatch | AmbiguousMatch | null {
    // Words that are themselves names (distance 0) are not misspellings.
    const candidates = words.filter(
      (w) => w.length >= 6 && /^[a-z]+$/.test(w) && !SALT_WORDS.has(w) && !FILLER_WORDS.has(w) && !this.data.curated.has(w) && !this.data.substances.has(w)
    )
    for (const word of candidates) {
      // One edit (two from 12 letters up), and the first letter kept: "simvistatin" is simvastatin, but an
      // unknown "zorbamycin" is not tobramycin.
      const max = word.length >= 12 ? 2 : 1
      let best = max + 1
      let found: string[] = []
      for (const known of this.fuzzyVocabulary) {
        if (known.includes(' ') || known[0] !== word[0]) continue
        const d = editDistance(word, known, max)
        if (d < best) {
          best = d
          found = [known]
        } else if (d === best && d <= max) found.push(known)
      }
      if (best > max || found.length === 0) continue
      const hits = found.map((f) => this.lookupWords([f])).filter((h): h is ComponentMatch => h !== null && h.kind === 'match')
      const distinct = new Map(hits.flatMap((h) => h.targets.map((t) => [t.substance ?? t.atc5!, h] as const)))
      if (distinct.size > 1) {
        return { kind: 'ambiguous', candidates: found.map((f) => ({ name: f, atc5: null, why: `"${word}" is ${best} edit(s) from each` })) }
      }
      const [hit] = hits
      if (hit) return { ...hit, path: 'misspelling', matched: `${word} (read as ${found[0]})`, confidence: CONFIDENCE.misspelling }
    }
    return null
  }

  /** Close names for an unresolved phrase (edit distance up to 3), as candidates. */
  private suggest(phrase: string): Candidate[] {
    const key = lookupKey(phrase)
    if (key.length < 4) return []
    const scored: { name: string; d: number }[] = []
    for (const known of this.fuzzyVocabulary) {
      const d = editDistance(key, known, 3)
      if (d <= 3) scored.push({ name: known, d })
    }
    return scored
      .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
      .slice(0, 3)
      .map((s) => ({ name: this.data.substanceNames.get(s.name) ?? s.name, atc5: this.data.substances.get(s.name)?.[0] ?? null, why: `${s.d} edit(s) from "${phrase}"` }))
  }

  /** The GSN code table, used only when the name does not resolve. */
  private byGsn(query: DrugQuery, route: RouteClass | null, hints: { oral: boolean; parenteral: boolean }): DrugResolution | null {
    for (const gsn of splitGsnCodes(query.gsn ?? '')) {
      const atc = this.data.gsnToAtc.get(gsn)
      if (!atc || atc.length !== 7) continue
      const key = this.data.substanceOfCode.get(atc)
      if (!key) continue
      const codes = this.data.substances.get(key) ?? [atc]
      const choice = chooseCode(codes, route, this.data.codeInfo, hints)
      return {
        status: 'resolved',
        input: query,
        confidence: CONFIDENCE['code-table'],
        ingredients: [{ name: this.data.substanceNames.get(key) ?? key, atc5: choice.atc5, substanceCodes: codes, path: 'code-table', matched: `GSN ${gsn}` }],
        route: choice.route,
        combination: false,
        paths: ['code-table'],
        notes: [`name not recognised; GSN ${gsn} → ${atc} (gsn_atc_ndc_mapping)`]
      }
    }
    return null
  }

  /** An RxNorm code of the table: its ingredients, whatever the text says (the code names the product exactly). */
  private byRxnorm(query: DrugQuery, code: string): DrugResolution | null {
    const entry = this.data.rxnorm.get(code)
    if (!entry) return null
    const ingredients: ResolvedIngredient[] = entry.atc5.map((atc5) => {
      const key = this.data.substanceOfCode.get(atc5)
      return {
        name: (key && this.data.substanceNames.get(key)) ?? atc5,
        atc5,
        substanceCodes: (key && this.data.substances.get(key)) || [atc5],
        path: 'rxnorm' as const,
        matched: `RxNorm ${code}`
      }
    })
    // The route the display names (the table's codes were chosen for it: "Metered Dose Inhaler", "Topical Cream").
    const route: RouteClass = this.routeFor({ ...query, route: null }, normaliseText(entry.display)) ?? 'systemic'
    return {
      status: 'resolved',
      input: query,
      confidence: CONFIDENCE.rxnorm,
      ingredients,
      route,
      combination: ingredients.length > 1,
      paths: ingredients.length > 1 ? ['rxnorm', 'combination'] : ['rxnorm'],
      notes: [`RxNorm ${code} ("${entry.display}") → ${entry.atc5.join(' + ')} (rxnorm-codes.csv)`]
    }
  }

  private fromGsn(query: DrugQuery): Candidate[] {
    return splitGsnCodes(query.gsn ?? '')
      .map((g) => ({ g, atc: this.data.gsnToAtc.get(g) }))
      .filter((x) => x.atc)
      .map((x) => ({ name: x.atc!, atc5: x.atc!.length === 7 ? x.atc! : null, why: `GSN ${x.g}` }))
  }

  private fromOverride(query: DrugQuery, override: DrugOverride): DrugResolution {
    if (override.target === 'non-drug') return { status: 'non-drug', input: query, confidence: 1, reason: `local override: ${override.reason}` }
    const ingredients = override.target.map((atc5) => {
      const key = this.data.substanceOfCode.get(atc5)
      return {
        name: (key && this.data.substanceNames.get(key)) ?? atc5,
        atc5,
        substanceCodes: (key && this.data.substances.get(key)) || [atc5],
        path: 'override' as const,
        matched: query.text
      }
    })
    return {
      status: 'resolved',
      input: query,
      confidence: 1,
      ingredients,
      route: 'systemic',
      combination: ingredients.length > 1,
      paths: ingredients.length > 1 ? ['override', 'combination'] : ['override'],
      notes: [`local override: ${override.reason}`]
    }
  }
}

/** Amide and ester local anaesthetics (lidocaine, bupivacaine, benzocaine…), not "other" N01BX (capsaicin patch). */
const LOCAL_ANAESTHETIC = /^N01B[ABC]/

/** Words that, left after a matched name, make it a different chemical ("carbamide peroxide", "boric acid"). */
const CHEMICAL_WORDS = new Set('peroxide acid oxide hydroxide ester amide sulfide dioxide chloride'.split(' '))

/** Words that never name a drug alone. */
const GENERIC_ALONE = new Set(
  'vitamin vitamins insulin human regular normal saline dextrose water sterile plain acid oil extract solution salt salts mineral minerals electrolyte electrolytes iron'.split(' ')
)

interface ComponentMatch {
  kind: 'match'
  targets: NameTarget[]
  path: ResolutionPath
  matched: string
  confidence: number
  /** How many words of the phrase the match used. */
  words: number
}

interface AmbiguousMatch {
  kind: 'ambiguous'
  candidates: Candidate[]
}

/** The key an override is stored under: the raw string normalised (case, accents, punctuation, spaces). */
export function overrideKey(raw: string): string {
  return lookupKey(raw)
}

function splitGsnCodes(raw: string): string[] {
  const out: string[] = []
  for (const part of raw.split(/[\s,;]+/)) if (/^\d{1,6}$/.test(part)) out.push(part.padStart(6, '0'))
  return out
}
