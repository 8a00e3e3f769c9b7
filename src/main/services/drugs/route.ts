// Choosing a substance's route-appropriate ATC code. The WHO index files one substance under several
// codes by where it acts: salbutamol R03AC02 (inhaled) and R03CC02 (systemic); lidocaine C01BB01
// (antiarrhythmic, IV), N01BB02 (local anaesthetic), D04AB01 (skin), S01HA07 (eye), R02AD02 (throat).
// The route the string names (or the source's route column) picks among them; with no route, the
// substance's principal systemic code is used: the first non-local code with an oral DDD, then a
// parenteral one, then any non-local code.
import type { RouteClass } from './types'

/** ATC groups of products that act where applied (mouth, gut lumen, skin, eye, ear, nose, throat, vagina, anus). */
const LOCAL_USE = /^(?:A01|A07A|A07E|B05C|C05|D0[1-9]|D1[01]|G01|G02|N01B|R01|R02|S0[1-3])/
/** Skin groups that are taken by mouth (terbinafine tablets D01BA02, isotretinoin D10BA01, methoxsalen D05BA02). */
const SYSTEMIC_IN_SKIN_GROUPS = /^(?:D01B|D05B|D10B|D11AH)/

/** Codes to prefer for each local route, in order; a substance with none of them falls back to systemic. */
const ROUTE_PREFERENCE: Record<Exclude<RouteClass, 'systemic'> | 'rectal-cream', readonly string[]> = {
  inhaled: ['R03', 'R05', 'R07', 'A10AF'],
  nasal: ['R01'],
  ophthalmic: ['S01', 'S03'],
  otic: ['S02', 'S03'],
  topical: ['D', 'M02', 'N01B'],
  'local-anaesthetic': ['N01B', 'D04AB', 'R02AD', 'C05AD'],
  mouth: ['A01', 'R02', 'N01B', 'D04'],
  vaginal: ['G01', 'G02', 'G03'],
  // Given rectally, an intestinal anti-infective acts in the colon (vancomycin enema A07AA09).
  rectal: ['A07E', 'C05', 'A06', 'A07A'],
  'rectal-cream': ['C05', 'D', 'A07E']
}

export interface CodeInfo {
  /** WHO DDD administration routes of the code ("O", "P", "Inhal.aerosol", "R", "V", "TD", …). */
  dddRoutes: ReadonlySet<string>
}

export function isLocalCode(code: string): boolean {
  return LOCAL_USE.test(code) && !SYSTEMIC_IN_SKIN_GROUPS.test(code)
}

/** Rank for the principal systemic code: oral DDD, parenteral DDD, another DDD, none. */
function systemicRank(code: string, info: ReadonlyMap<string, CodeInfo>, parenteral: boolean): number {
  // Diagnostic uses (V04: glucose tolerance test) come last: a prescription is a treatment.
  if (code.startsWith('V04')) return 9
  const routes = info.get(code)?.dddRoutes ?? new Set<string>()
  const oral = routes.has('O')
  const inj = routes.has('P')
  // Given by injection: a parenteral DDD first; then IV solutions and additives (B05A/B/X: mannitol B05BC01,
  // not the laxative A06AD16), what a bag holds; then a code with other non-oral DDDs (fentanyl N02AB03);
  // then one without a DDD; last a code with an oral DDD (acetylcysteine R05CB01 is the mucolytic, V03AB23
  // the IV antidote): the oral DDD says that code is the tablet's.
  if (parenteral) return inj ? 0 : /^B05[ABX]/.test(code) ? 1 : oral ? 4 : routes.size > 0 ? 2 : 3
  return oral ? 0 : inj ? 1 : routes.size > 0 ? 2 : 3
}

/** True when every code of a substance is a local-use code (brimonidine: D11AX21 skin, S01EA05 eye). */
export function allLocal(codes: readonly string[]): boolean {
  return codes.length > 0 && codes.every((c) => isLocalCode(c))
}

export interface RouteChoice {
  atc5: string
  /** The route the chosen code stands for. */
  route: RouteClass
  /** Set when the string named a local route but the substance has no code for it. */
  fallback: boolean
}

/**
 * The ATC5 code of a substance for a route. `oralHint` (tablets, PO) keeps intestinal anti-infectives
 * (oral vancomycin A07AA09); `parenteral` (IV/IM/SC) prefers codes with a parenteral DDD.
 */
export function chooseCode(
  codes: readonly string[],
  route: RouteClass | 'rectal-cream' | null,
  info: ReadonlyMap<string, CodeInfo>,
  hints: { oral?: boolean; parenteral?: boolean; transdermal?: boolean } = {}
): RouteChoice {
  const sorted = [...codes].sort()
  if (route && route !== 'systemic') {
    for (const prefix of ROUTE_PREFERENCE[route]) {
      const hit = sorted.find((c) => c.startsWith(prefix))
      if (hit) return { atc5: hit, route: route === 'rectal-cream' ? 'rectal' : route, fallback: false }
    }
  }
  let systemic = sorted.filter((c) => !isLocalCode(c))
  // On the skin with no skin code: a substance that is never given through the skin for a systemic effect
  // (no transdermal DDD) acts where applied (diltiazem ointment C05AE03, anal fissures), while one that is
  // (nitroglycerin ointment, C01DA02 for angina) keeps its systemic code.
  if (route === 'topical' && !systemic.some((c) => info.get(c)?.dddRoutes.has('TD'))) {
    const local = sorted.find((c) => isLocalCode(c) && /^(?:C05|D)/.test(c))
    if (local) return { atc5: local, route: 'topical', fallback: false }
  }
  if (hints.oral && !hints.parenteral) {
    const intestinal = sorted.find((c) => c.startsWith('A07A'))
    if (intestinal) return { atc5: intestinal, route: 'systemic', fallback: false }
  }
  // Only local codes and taken by mouth: a troche or lozenge acts in the mouth (clotrimazole A01AB18,
  // never the vaginal G01AF02).
  if (systemic.length === 0 && hints.oral && !hints.parenteral) {
    for (const prefix of ROUTE_PREFERENCE.mouth) {
      const hit = sorted.find((c) => c.startsWith(prefix))
      if (hit) return { atc5: hit, route: 'mouth', fallback: false }
    }
  }
  if (systemic.length === 0) systemic = sorted
  // A transdermal system (scopolamine patch A04AD01, not the hypnotic N05CM05): the code with a TD DDD.
  if (hints.transdermal) {
    const td = systemic.find((c) => info.get(c)?.dddRoutes.has('TD'))
    if (td) return { atc5: td, route: 'systemic', fallback: false }
    // No code with a transdermal DDD: the DDDs of the others describe oral/parenteral uses, so a code
    // without DDD is the patch's (scopolamine patch A04AD01, not the oral/parenteral hypnotic N05CM05).
    const noDdd = systemic.filter((c) => (info.get(c)?.dddRoutes.size ?? 0) === 0)
    if (noDdd.length === 1 && systemic.length > 1) return { atc5: noDdd[0]!, route: 'systemic', fallback: false }
  }
  systemic.sort((a, b) => systemicRank(a, info, !!hints.parenteral) - systemicRank(b, info, !!hints.parenteral) || a.localeCompare(b))
  return { atc5: systemic[0]!, route: 'systemic', fallback: route !== null && route !== 'systemic' }
}

/** Route words of a string or route column that mean by mouth / by injection (for chooseCode hints). */
export function routeHints(text: string, route?: string | null): { oral: boolean; parenteral: boolean } {
  const words = ` ${`${text} ${route ?? ''}`.toLowerCase().replace(/[^a-z0-9]+/g, ' ')} `
  return {
    oral: /\s(?:po|oral|orally|tab|tabs|tablet|tablets|cap|caps|capsule|capsules|ng|ngt|peg|susp|suspension|syrup|elixir)\s/.test(words),
    parenteral: /\s(?:iv|im|sc|sq|subq|subcut|subcutaneous|intravenous|intraven|intravenou|ivpb|ivp|ij|inj|injection|injectable|drip|bolus|vial|intramuscular|infusion|bag|premix|piggyback|mbp|lvp|sdv|mdv|syringe|syr|carpuject|injector|autoinjector)\s/.test(words)
  }
}
