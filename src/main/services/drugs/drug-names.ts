// Drug-name normalisation for name → ATC mapping. Prescription names are free text: "Metoprolol
// Tartrate", "METOPROLOL TARTRATE 25 MG PO TABS", "5 ML VIAL : DILTIAZEM HCL 25 MG/5ML IV SOLN",
// "TraMADOL (Ultram)". The same function builds the dictionary keys and the lookup keys, so both sides
// agree on what is stripped. Which steps help was measured on the two demos (see drug-mapper.ts).

/** Dose units, forms, packaging and routes: never part of a substance name. */
const NOISE_TOKENS = new Set(
  (
    // units
    'mg mcg ug g gm gram grams kg ml l liter meq mmol mol unit units un iu mu u % mcl hr h min ' +
    // dose forms and release
    'tab tabs tablet tablets cap caps capsule capsules soln solution sol inj injection injectable syr syrup ' +
    'susp suspension liq liquid elix elixir crm cream oint ointment gel lotion patch neb nebulizer nebule ' +
    'inhaler inh aerosol aer powder pwd solr conc concentrate supp suppository drop drops spray lozenge troche ' +
    'film strip chew chewable odt tbec tbcr tbdp tb24 tb12 cpcr cp24 cp12 cpdr cpep csdr ec dr er xr xl sr cr la ir ' +
    'ext extended release delayed immediate sust sustained oral ophth ophthalmic otic nasal topical vaginal rectal ' +
    'transdermal sublingual buccal ' +
    // packaging
    'prmx normal vial vl sdv mdv bag bottle btl flex cont container syringe carpuject tubex ampul ampule amp pack packet pkt ' +
    'kit box ea each ud pf premix premixed lvp mbp ivpb piggyback bolus pca drip infusion in cup bq ' +
    // routes
    'po iv im sc sq subq subcut sl pr top td ij ivp ng gt peg per tube'
  ).split(/\s+/)
)

/** Salt and ester words: dropped only as a fallback, since "sodium chloride" is itself a drug. */
const SALT_TOKENS = new Set(
  (
    'hcl hydrochloride hydrobromide hbr sodium potassium calcium magnesium sulfate sulphate tartrate bitartrate ' +
    'succinate maleate mesylate besylate citrate phosphate acetate bromide chloride fumarate hyclate gluconate ' +
    'lactate nitrate disodium dihydrate monohydrate anhydrous trihydrate dipropionate propionate valerate ' +
    'decanoate bicarbonate carbonate hemifumarate tosylate estolate stearate ethylsuccinate palmitate pamoate ' +
    'xinafoate mononitrate dinitrate furoate trometamol tromethamine meglumine'
  ).split(/\s+/)
)

/** Words meaningless alone; a one-word prefix match on them would map "insulin aspart" to any insulin. */
const TOO_GENERIC_ALONE = new Set([...SALT_TOKENS, 'vitamin', 'insulin', 'human', 'regular', 'normal', 'saline', 'dextrose', 'water', 'sterile', 'plain'])

/** A number, a dose ("25mg", "0.9%", "1,000", "5/325"), or a token with digits only. */
function isDoseToken(token: string): boolean {
  return /^[\d.,/%-]+[a-z%]*$/.test(token) || /^\d+[a-z]{0,4}\/\d*[a-z]{0,4}$/.test(token)
}

/**
 * Tokens of a drug name: lower case, the packaging prefix ("1000 ML FLEX CONT : ") and bracketed
 * text removed, split on anything that is not a letter, digit, '.', '%' or '/', then units, forms,
 * routes and doses dropped. Keeps the raw tokens if dropping would leave nothing ("NS").
 */
export function drugNameTokens(raw: string): string[] {
  let text = raw.toLowerCase()
  // eICU writes the container before or after a colon: "2 ML VIAL : ONDANSETRON HCL ...",
  // "SODIUM CHLORIDE 0.9 % SYRINGE : 10 ML SYRINGE", or after a dash: "100 ML  -  POTASSIUM CHLORIDE ...".
  const colon = text.indexOf(':')
  if (colon > 0) text = /^\s*\d/.test(text) ? text.slice(colon + 1) : /^\s*\d/.test(text.slice(colon + 1)) ? text.slice(0, colon) : text
  text = text.replace(/^\s*[\d.,]+\s*(?:ml|l)\s+-\s+/, '')
  text = text.replace(/\([^)]*\)|\[[^\]]*\]|\*[^*]*\*/g, ' ')
  // A slash between words separates ingredients ("sulfameth/trimethoprim"); between numbers it is a dose ("5/325").
  text = text.replace(/([a-z])\/|\/(?=[a-z])/g, '$1 ').replace(/%(?=[a-z])/g, '% ')
  const all = text
    .split(/[^a-z0-9.%/]+/)
    .map((t) => t.replace(/^\.+|\.+$/g, ''))
    .filter((t) => t !== '' && t !== '/')
  const expanded = all.flatMap((t) => ABBREVIATIONS.get(t) ?? [t])
  const kept = expanded.filter((t) => !NOISE_TOKENS.has(t) && !isDoseToken(t))
  return kept.length > 0 ? kept : expanded
}

/** Ward abbreviations seen in the eICU demo's free text (D50, NSS, KCL, MVI …). */
const ABBREVIATIONS = new Map<string, string[]>(
  Object.entries({
    nacl: ['sodium', 'chloride'],
    nss: ['sodium', 'chloride'],
    ns: ['sodium', 'chloride'],
    kcl: ['potassium', 'chloride'],
    d50: ['dextrose'],
    d50w: ['dextrose'],
    d5w: ['dextrose'],
    d10: ['dextrose'],
    d10w: ['dextrose'],
    dext: ['dextrose'],
    mvi: ['multivitamins'],
    asa: ['aspirin'],
    apap: ['acetaminophen'],
    ntg: ['nitroglycerin'],
    mso4: ['morphine'],
    mgso4: ['magnesium', 'sulfate'],
    saline: ['sodium', 'chloride'],
    sennosides: ['senna']
  })
)

/** The dictionary key of a name: its tokens joined by one space. */
export function drugNameKey(raw: string): string {
  return drugNameTokens(raw).join(' ')
}

/** Texts inside brackets, e.g. the brand in "TraMADOL (Ultram)" or the generic in "Tylenol (acetaminophen)". */
export function bracketedAliases(raw: string): string[] {
  const aliases: string[] = []
  for (const m of raw.matchAll(/\(([^)]+)\)/g)) {
    const key = drugNameKey(m[1]!)
    if (key !== '' && /[a-z]{3}/.test(key)) aliases.push(key)
  }
  return aliases
}

/**
 * Lookup keys for a name, most specific first: the full key, the key without salts, then shorter
 * token prefixes ("potassium chloride crys" → "potassium chloride"), never a single generic word.
 */
export function drugNameCandidates(raw: string): string[] {
  const tokens = drugNameTokens(raw)
  const candidates: string[] = []
  const add = (list: string[]): void => {
    const key = list.join(' ')
    if (key !== '' && !candidates.includes(key)) candidates.push(key)
  }
  const withoutSalts = tokens.filter((t) => !SALT_TOKENS.has(t))
  add(tokens)
  if (withoutSalts.length > 0) add(withoutSalts)
  for (let length = tokens.length - 1; length >= 1; length--) {
    const prefix = tokens.slice(0, length)
    if (length === 1 && (TOO_GENERIC_ALONE.has(prefix[0]!) || prefix[0]!.length < 4)) continue
    add(prefix)
    const prefixWithoutSalts = prefix.filter((t) => !SALT_TOKENS.has(t))
    if (prefixWithoutSalts.length > 0 && !(prefixWithoutSalts.length === 1 && TOO_GENERIC_ALONE.has(prefixWithoutSalts[0]!)))
      add(prefixWithoutSalts)
  }
  return candidates
}
