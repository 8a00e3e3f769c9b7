// Warnings on a drug-level recommendation, tiered for alert fatigue:
// - interactions between drugs (the chosen drugs of the recommended classes and the patient's current drugs):
//   interrupting only at Major/Contraindicated and only when at least one drug is newly recommended; a pair among
//   drugs the patient already takes is an existing co-prescription (inline at Major and above, not interrupting);
//   Moderate inline, Minor/Unknown collapsed;
// - therapeutic duplication: two drugs of one ATC level-4 group, or two codes of one ingredient name;
// - allergies: a drug matching an allergen's ingredient (ATC5 or name) or class (shorter ATC code);
// - class-level notes: for a class with no chosen drug, the class pairs lifted from member drug pairs, never
//   interrupting and labelled as class-level.
// Every warning names its drugs, severity and source.
import { isAtLeast, severityRank } from '../../../shared/domain/interaction'
import type { DrugWarning } from '../../../shared/domain/recommendation'
import type { AllergyEntry } from '../../../shared/domain/patient'
import type { RecommendationDdiPair, Severity } from '../../../shared/domain/interaction'
import { type DdiChecker } from './checker'
import type { ClassChoice } from '../recommend/drug-choice'

export interface WarningInput {
  /** The final classes with their drugs. */
  classes: readonly ClassChoice[]
  /** Every ATC5 drug of the current visit (recommended or not). */
  currentDrugs: readonly string[]
  /** Drug pairs among the classes' drugs and the current drugs. */
  pairs: readonly RecommendationDdiPair[]
  allergies: readonly AllergyEntry[]
  /** For class-level notes; null without a knowledge base. */
  checker: DdiChecker | null
  nameOf: (code: string) => string | null
}

const DUPLICATION_SOURCE = 'WHO ATC classification (same level-4 group)'
const SAME_INGREDIENT_SOURCE = 'WHO ATC index (same ingredient name)'
const ALLERGY_SOURCE = "the patient's allergy list"

function tierOf(severity: Severity, interrupting: boolean): DrugWarning['tier'] {
  if (interrupting) return 'interrupt'
  return isAtLeast(severity, 'Moderate') ? 'inline' : 'details'
}

const label = (code: string, name: string | null): string => (name ? `${name} (${code})` : code)

export function drugWarnings(input: WarningInput): DrugWarning[] {
  const current = new Set([...input.currentDrugs, ...input.classes.flatMap((c) => c.drugs.filter((d) => d.source === 'current').map((d) => d.atc5))])
  const recommended = [...new Set(input.classes.flatMap((c) => c.drugs.map((d) => d.atc5)))]
  const all = [...new Set([...recommended, ...current])].sort()
  const isNew = (atc5: string): boolean => !current.has(atc5)
  const name = (code: string): string | null => input.nameOf(code)
  const warnings: DrugWarning[] = []

  // Interactions: one warning per drug pair, the most severe source first, every source named.
  const byPair = new Map<string, RecommendationDdiPair[]>()
  for (const p of input.pairs) {
    const [a, b] = [p.a, p.b].sort() as [string, string]
    byPair.set(`${a}|${b}`, [...(byPair.get(`${a}|${b}`) ?? []), { ...p, a, b }])
  }
  for (const list of byPair.values()) {
    const ordered = [...list].sort((x, y) => severityRank(y.severity) - severityRank(x.severity))
    const { a, b, severity } = ordered[0]!
    const scope = isNew(a) || isNew(b) ? 'new' : 'existing'
    const interrupting = scope === 'new' && isAtLeast(severity, 'Major')
    warnings.push({
      kind: 'interaction',
      severity,
      interrupting,
      tier: tierOf(severity, interrupting),
      scope,
      drugs: [a, b],
      names: [name(a) ?? a, name(b) ?? b],
      sources: [...new Set(ordered.map((p) => p.source))],
      detail: `${label(a, name(a))} + ${label(b, name(b))}: ${severity} interaction${scope === 'existing' ? ' (existing co-prescription: the patient already takes both)' : ''}`
    })
  }

  // Therapeutic duplication among recommended + current drugs.
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i]!
      const b = all[j]!
      const sameGroup = a.slice(0, 5) === b.slice(0, 5)
      const nameA = name(a)?.toLowerCase()
      const sameIngredient = !!nameA && nameA === name(b)?.toLowerCase()
      if (!sameGroup && !sameIngredient) continue
      const scope = isNew(a) || isNew(b) ? 'new' : 'existing'
      const severity: Severity = scope === 'new' ? 'Moderate' : 'Minor'
      warnings.push({
        kind: 'duplication',
        severity,
        interrupting: false,
        tier: tierOf(severity, false),
        scope,
        drugs: [a, b],
        names: [name(a) ?? a, name(b) ?? b],
        sources: [sameIngredient ? SAME_INGREDIENT_SOURCE : DUPLICATION_SOURCE],
        detail: `${label(a, name(a))} and ${label(b, name(b))}: therapeutic duplication (${sameIngredient ? 'same ingredient' : `same ATC level-4 group ${a.slice(0, 5)}`})`
      })
    }
  }

  // Allergies: the ingredient (same ATC5 or name) is Contraindicated, a class match (ATC prefix) Major.
  for (const drug of all) {
    for (const allergy of input.allergies) {
      const code = allergy.atc?.trim().toUpperCase() || null
      const drugName = name(drug)?.toLowerCase()
      const ingredient = code === drug || (!!drugName && drugName === allergy.substance.trim().toLowerCase())
      const cls = !ingredient && code !== null && code.length < 7 && drug.startsWith(code)
      if (!ingredient && !cls) continue
      const severity: Severity = ingredient ? 'Contraindicated' : 'Major'
      const scope = isNew(drug) ? 'new' : 'existing'
      const interrupting = scope === 'new'
      warnings.push({
        kind: 'allergy',
        severity,
        interrupting,
        tier: tierOf(severity, interrupting),
        scope,
        drugs: [drug],
        names: [name(drug) ?? drug],
        sources: [ALLERGY_SOURCE],
        detail: `${label(drug, name(drug))}: allergy to ${allergy.substance}${code ? ` (${code})` : ''}, ${ingredient ? 'same ingredient' : `same class ${code}`}`
      })
    }
  }

  // Class-level notes for classes without a drug: what lifting says between that class and the other classes.
  const without = input.classes.filter((c) => c.drugs.length === 0)
  if (input.checker && without.length > 0) {
    const classes = [...new Set([...input.classes.map((c) => c.atc3), ...all.map((d) => d.slice(0, 4))])]
    const lifted = input.checker.check(classes)
    for (const cls of without) {
      const byPartner = new Map<string, RecommendationDdiPair[]>()
      for (const p of lifted) {
        const partner = p.a === cls.atc3 ? p.b : p.b === cls.atc3 ? p.a : null
        if (partner !== null && partner !== cls.atc3) byPartner.set(partner, [...(byPartner.get(partner) ?? []), p])
      }
      for (const [partner, list] of byPartner) {
        const severity = list.reduce<Severity>((w, p) => (severityRank(p.severity) > severityRank(w) ? p.severity : w), 'Unknown')
        warnings.push({
          kind: 'class-note',
          severity,
          interrupting: false,
          tier: 'details',
          scope: 'new',
          drugs: [cls.atc3, partner],
          names: [cls.name ?? name(cls.atc3) ?? cls.atc3, name(partner) ?? partner],
          sources: [...new Set(list.map((p) => p.source))],
          detail: `class-level note (no drug chosen for ${cls.atc3}): some member of ${cls.atc3} interacts (${severity}) with some member of ${partner}; check the drug once chosen`
        })
      }
    }
  }

  const kindOrder = { allergy: 0, interaction: 1, duplication: 2, 'class-note': 3 }
  return warnings.sort(
    (x, y) =>
      Number(y.interrupting) - Number(x.interrupting) ||
      severityRank(y.severity) - severityRank(x.severity) ||
      kindOrder[x.kind] - kindOrder[y.kind] ||
      x.drugs.join().localeCompare(y.drugs.join())
  )
}
