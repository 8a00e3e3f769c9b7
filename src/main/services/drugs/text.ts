// Reading a raw drug string: what route it names, and which words could name an ingredient.
// Prescription strings are free text ("METOPROLOL TARTRATE 25 MG PO TABS", "5 ML VIAL : DILTIAZEM HCL
// 25 MG/5ML IV SOLN", "Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet", "Lidocaine
// Jelly 2% (Urojet)"). Doses, units, forms and packaging never name an ingredient; they are dropped
// here, but the form and route words are read first because they decide the route-appropriate ATC code.
import type { RouteClass } from './types'

/** Lower case, accents and replacement characters removed, one space between words. */
export function normaliseText(raw: string): string {
  return raw
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/\uFFFD/g, ' ')
    .toLowerCase()
    .replace(/[’`]/g, "'")
    .replace(/\s+/g, ' ')
    .trim()
}

/** The key a name is looked up under: normalised, punctuation other than letters/digits made a space. */
export function lookupKey(raw: string): string {
  return normaliseText(raw)
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()
}

/** Units, forms, release words, packaging, routes and ward noise: never part of an ingredient name. */
const NOISE_WORDS = new Set(
  (
    'mg mcg ug g gm gram grams kg ml l liter litre meq mmol mol unit units unt un iu mu u mcl hr hrs h min day days actuat ' +
    'tab tabs tablet tablets cap caps capsule capsules capsul soln solution sol inj injection injectable injectables syr syrup ' +
    'susp suspension liq liquid elix elixir crm cream oint ointment gel lotion patch patches neb nebs nebulizer nebule nebulized ' +
    'inhaler inh inhl inhal inhalation aerosol aer hfa mdi dpi diskus respimat handihaler powder pwd solr conc concentrate ' +
    'supp supps suppository drop drops spray lozenge troche film strip chew chewable odt tbec tbcr tbdp tb24 tb12 cpcr cp24 ' +
    'cp12 cpdr cpep csdr ec dr er xr xl sr cr la ir sa ext extended release delayed immediate sust sustained oral ophth ' +
    'ophthalmic opth oph otic nasal topical vaginal rectal transdermal sublingual buccal jelly jel jell viscous mouthwash rinse ' +
    'metered dose dry system pack day-pack enteric coated disintegrating orally ' +
    'prmx vial vl sdv mdv bottle btl flex cont container carpuject tubex ampul ampule amp ampoule pkt packet ' +
    'kit box ea each ud pf p.f mpf premix premixed lvp mbp ivpb piggyback bolus pca drip infusion cup bq bulk ' +
    'preservative free porcine bovine human-derived ' +
    'po iv im sc sq subq subcut sl pr top td ij ivp ng gt peg per tube ou os od au ad as ' +
    'nf inv study non-formulary formulary dose-pack dosepak adult adults pediatric pedi peds child children infant ' +
    'auto-injector autoinjector injector pen prefilled cartridge implant device intrauterine ring mucosal sso subl udpwd emul emulsion nebu solp flexpen kwikpen abboject excel viaflo plas pb lvp ssb mouth throat multidose inhale inhaled ndc package custom half-tab'
  ).split(/\s+/)
)

/** Salt and ester words: dropped when the name without them is a substance ("metoprolol tartrate"). */
export const SALT_WORDS = new Set(
  (
    'hcl hydrochloride hydrochlor hydrocholoride hydrobromide hbr sodium potassium calcium magnesium sulfate sulphate tartrate ' +
    'bitartrate succinate maleate mesylate mesilate besylate besilate citrate phosphate acetate bromide chloride fumarate hyclate ' +
    'gluconate lactate nitrate disodium dihydrate monohydrate anhydrous trihydrate dipropionate propionate valerate ' +
    'decanoate bicarbonate carbonate hemifumarate tosylate tosilate estolate stearate ethylsuccinate palmitate pamoate ' +
    'xinafoate furoate trometamol tromethamine meglumine sod na k mag dihcl diphosphate hyclate monohydrochloride ' +
    'hydroxide oxide medoxomil axetil pivoxil mofetil lysine sulfosalicylate teoclate trisilicate'
  ).split(/\s+/)
)

/** Words that qualify an ingredient but may be dropped when the qualified name is not a substance. */
const DROPPABLE_QUALIFIERS = new Set('plain regular liposomal lipid complex conventional synthetic micronized modified'.split(' '))

/** A number, a dose ("25mg", "0.9%", "1,000", "5/325", "1:100000", "u-100", "100units/ml", "50ml"). */
export function isDoseToken(token: string): boolean {
  return (
    /^[\d.,]+$/.test(token) ||
    /^[\d.,/%:-]+[a-z%]*(?:\/[\d.]*[a-z]*)*$/.test(token) ||
    /^u-?\d+$/.test(token) ||
    /^\d+(?:hr|hrs|h)$/.test(token) ||
    /^\d+(?:st|nd|rd|th)$/.test(token) ||
    /^(?:ml|mg|mcg|g|l|meq|mmol|units?)\d+$/.test(token) ||
    /^[a-z]{1,4}\d{4,}$/.test(token) ||
    (/[-%/]/.test(token) && token.split(/[-%/]+/).every((part) => part === '' || NOISE_WORDS.has(part) || /^[\d.]+$/.test(part)))
  )
}

/** Route hints: words of the string (or the source's route column) → route class. */
const ROUTE_WORDS: Array<[RegExp, RouteClass]> = [
  [/\b(?:ophth?|ophthalmic|opth|eye|eyes|gtt|ou|os|od|both eyes|left eye|right eye|intraocular|opthalmic)\b/, 'ophthalmic'],
  [/\b(?:otic|ear|ears|left ear|right ear|both ears|au|auric)\b/, 'otic'],
  [/\b(?:nasal|nose|intranasal|nas|nare|nares|nu)\b/, 'nasal'],
  [/\b(?:inh|inhl|inhal|inhaler|inhalation|neb|nebs|nebulizer|nebulized|nebulization|nebule|mdi|hfa|dpi|diskus|respimat|handihaler|metered dose|svn|ih|nebu|inhale|inhaled)\b/, 'inhaled'],
  [/\b(?:vaginal|vag|vg|pv|intravaginal)\b/, 'vaginal'],
  [/\b(?:rectal|rect|supp|supps|suppository|enema|pr|re)\b/, 'rectal'],
  [/\b(?:mouthwash|swish|troche|lozenge|viscous|oral rinse|mouth|buccal paste|dental|oromucosal|mt|oral swab|oral mucosa|mucosa)\b/, 'mouth'],
  [/\b(?:crm|cream|oint|ointment|lotion|topical|top|tp|shampoo|foam|paste|jelly|jel|jell|gel|wash|scrub|external)\b/, 'topical']
]

/** The route class the string or the source's route/form columns name, or null when none. */
export function routeOf(text: string, route?: string | null, form?: string | null): RouteClass | null {
  // The string's own words first ("Fluticasone NASAL" given route "NU"), then the columns.
  for (const source of [text, route, form]) {
    if (!source) continue
    const words = normaliseText(source).replace(/[^a-z0-9]+/g, ' ')
    for (const [pattern, routeClass] of ROUTE_WORDS) if (pattern.test(words)) return routeClass
  }
  for (const source of [route, form]) {
    if (!source) continue
    const words = normaliseText(source).replace(/[^a-z0-9]+/g, ' ')
    if (/\b(?:po|oral|iv|im|sc|sq|subq|subcut|intraven|intravenous|ivpb|ivp|ng|ngt|peg|sl|td|transdermal|subcutaneous|intramuscular|drip)\b/.test(words)) return 'systemic'
  }
  return null
}

/** True when the string names a transdermal system (nicotine, fentanyl, hormone patches act systemically). */
export function isTransdermal(text: string, route?: string | null): boolean {
  return /\b(?:transdermal|transderm|td|patch|24 ?hr .*patch|72 ?hr .*patch)\b/.test(normaliseText(`${text} ${route ?? ''}`))
}

export interface ParsedDrugText {
  /** The ingredient phrases: one per ingredient of a combination, each a list of words. */
  components: string[][]
  /**
   * Indexes of components written after a spaced dash ("Diazepam - CIWA protocol", "WARFARIN - PHYSICIAN
   * MONITORED"): a comment unless it names a drug, so it may be left out when nothing in it resolves.
   */
  comments: Set<number>
  /** Text in brackets ("TraMADOL (Ultram)", "[Toprol]"), tried when the main text does not resolve. */
  bracketed: string[]
}

/** Container prefixes/suffixes eICU writes around the drug: "2 ML VIAL : ONDANSETRON ...", "... : 10 ML SYRINGE". */
function dropContainerSide(text: string): string {
  const colon = text.indexOf(':')
  if (colon <= 0 || /\d:\d/.test(text.slice(colon - 1, colon + 2))) return text
  const left = text.slice(0, colon)
  const right = text.slice(colon + 1)
  const containerOnly = (side: string): boolean =>
    side
      .replace(/[^a-z]+/g, ' ')
      .trim()
      .split(' ')
      .every((w) => w === '' || NOISE_WORDS.has(w) || /^(?:syringe|bag|vial|glass|plastic|cont|bottle|ampul|ea)$/.test(w))
  if (containerOnly(left)) return right
  if (containerOnly(right)) return left
  return text
}

/**
 * Splits a raw string into ingredient phrases. A '/', '+', ' and ', ' & ', ',', ' with ', ' w/ ' or a
 * hyphen between words separates ingredients; a slash between numbers is a dose ("5/325"). A carrier
 * after " in " ("heparin in D5W", "lidocaine HCl in 0.9 % NaCl") is not an ingredient.
 */
export function parseDrugText(raw: string): ParsedDrugText {
  let text = normaliseText(raw)
  text = text.replace(/\*[^*]*\*/g, ' ').replace(/^(?:inv|nf|bulk)[-\s]+/, '')
  // "Senokot-S", "HYDROmorphone-HP": a hyphen before a one- or two-letter suffix joins a qualifier, not an ingredient.
  text = text.replace(/'s\b/g, '').replace(/--+/g, '-').replace(/([a-z]{3,})-([a-z]{1,2})\b/g, '$1 $2').replace(/\babuse-deterrent\b/g, ' ').replace(/\bvitamin\s+b\s*(\d+)\b/g, 'vitamin b$1')
  // Unit ratios ("0.4 MG/ACTUAT", "5 MG/ML", "0.00146 MG/HR") are doses, not ingredient separators.
  text = text.replace(/\b(?:mg|mcg|g|gm|unt|units?|meq|mmol|ml|%)\s*\/\s*(?:actuat|ml|hr|h|l|kg|dose|day)\b/g, ' ')
  // RxNorm writes qualifiers after a comma ("insulin human, isophane"; "nitrofurantoin, macrocrystals").
  text = text.replace(/,\s*(?=(?:human|isophane|regular|macrocrystals|monohydrate|anhydrous)\b)/g, ' ')
  text = dropContainerSide(text)
  const bracketed: string[] = []
  text = text.replace(/\(([^)]*)\)?|\[([^\]]*)\]?/g, (_m, a: string | undefined, b: string | undefined) => {
    const inner = (a ?? b ?? '').trim()
    if (/[a-z]{3}/.test(inner)) bracketed.push(inner)
    return ' '
  })
  // Carriers: " in 0.9% sodium chloride", " in d5w", " in ns", " in dextrose", " in sterile water".
  text = text.replace(/\s+in\s+(?:[\d.]+\s*%?\s*)?(?:ns|nss|d5w|d5|ds|dextrose|sodium chloride|nacl|normal saline|saline|sterile water|swfi|water|lr|lactated ringers?)\b.*$/, ' ')
  // "1:100,000" and "1:200000" are epinephrine strengths, not separators.
  text = text.replace(/\b1\s*:\s*[\d,]+/g, ' ')
  text = text.replace(/\bw\//g, ' / ').replace(/\s(?:with|and|&)\s/g, ' / ').replace(/\+/g, ' / ')
  // A slash or hyphen between letters separates ingredients; between digits it is a dose.
  text = text.replace(/([a-z)])\s*\/\s*(?=[a-z])/g, '$1 / ').replace(/([a-z])\s?-(?=[a-z]{3})/g, '$1 | ')
  // "Amino Acids 4.25%-Dextrose 5%": a hyphen after a strength starts the next ingredient ("50%-water" is one).
  text = text.replace(/(\d%?)\s*\/\s*(?=[a-z])/g, '$1 / ').replace(/(\d%)\s?-(?=(?!water\b)[a-z]{3})/g, '$1 | ')
  const components: string[][] = []
  const comments = new Set<number>()
  // A dash with spaces on both sides starts a comment or a second ingredient ("Ipratropium - Albuterol").
  const [head, ...tails] = text.split(/\s+-\s+(?=[a-z])/)
  const parts: Array<{ text: string; comment: boolean }> = [
    ...(head ?? '').split(/\s\/\s|,|\s\|\s/).map((t) => ({ text: t, comment: false })),
    ...tails.flatMap((tail) => tail.split(/\s\/\s|,|\s\|\s/).map((t) => ({ text: t, comment: true })))
  ]
  for (const { text: part, comment } of parts) {
    const words = part
      .split(/[^a-z0-9.%/-]+/)
      .map((w) => w.replace(/^[.-]+|[.-]+$/g, ''))
      .filter((w) => w !== '' && w !== '/' && !isDoseToken(w) && !NOISE_WORDS.has(w))
    if (words.length > 0) {
      if (comment) comments.add(components.length)
      components.push(words)
    }
  }
  return { components, bracketed, comments }
}

/** The hyphenated whole ("co-trimoxazole", "ipratropium-albuterol" as one brand-like key). */
export function wholeKey(raw: string): string {
  const { components } = parseDrugText(raw)
  return components.map((c) => c.join(' ')).join(' ')
}

/** Keys to try for one ingredient phrase, most specific first: as written, without salts, without qualifiers. */
export function phraseKeys(words: readonly string[]): string[] {
  const keys: string[] = []
  const add = (list: readonly string[]): void => {
    const key = list.join(' ')
    if (key !== '' && !keys.includes(key)) keys.push(key)
  }
  add(words.flatMap((w) => w.split(/[^a-z0-9]+/).filter(Boolean)))
  add(words)
  const withoutSalts = words.filter((w) => !SALT_WORDS.has(w))
  if (withoutSalts.length > 0) add(withoutSalts)
  const plain = withoutSalts.filter((w) => !DROPPABLE_QUALIFIERS.has(w))
  if (plain.length > 0) add(plain)
  return keys
}

/** True when the phrase key differs from the words as written only by salt words. */
export function isSaltStripped(words: readonly string[], key: string): boolean {
  return words.join(' ') !== key && words.some((w) => SALT_WORDS.has(w))
}
