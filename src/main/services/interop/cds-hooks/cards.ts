// Cards for a hook call: graded drug–drug interactions (DdiService, drug level where the drugs are
// known by ATC5, DDInter's severities), allergy matches, and for an interaction an order introduces,
// suggestions to substitute the ordered drug with a member of its ATC class that has no listed
// interaction with the rest of the list and that DDInter covers (absence in an uncovered source is
// never taken to mean "no interaction").
import { type DdiCheckResult, type DdiSourceInfo, mostSevere, SEVERITIES, type Severity, severityRank } from '../../../../shared/domain/interaction'
import { randomUUID } from 'node:crypto'
import { UnknownDrugError, type DdiService } from '../../interactions/ddi-service'
import { mapFhirDrug } from '../../imports/fhir/drug-mapping'
import type { KnowledgeDb } from '../../drugs/knowledge-base'
import type { DrugResolver } from '../../drugs/resolver'
import { OVERRIDE_REASONS, type CdsCard, type CdsSuggestion, type HookName } from './definitions'
import { ATC_SYSTEM, type MedicationItem, type PatientPicture } from './patient-context'

const ATC5 = /^[A-Z]\d\d[A-Z]{2}\d\d$/
const ATC3 = /^[A-Z]\d\d[A-Z]$/
const CACHE_LIMIT = 20_000
const MAX_SUBSTITUTES = 3
/** Candidates checked per substitution (nearest class first); keeps a call's cost bounded. */
const MAX_CANDIDATES = 40
/** Most severe first. */

interface CheckedDrug {
  input: string
  label: string
  items: MedicationItem[]
  /** Introduced by this call's orders (order-select: the selections; order-sign: every draft order). */
  introduced: boolean
}

const truncate = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)

export class CdsCardBuilder {
  private readonly inputCache = new Map<string, { input: string | null; reason: string | null }>()
  private readonly substituteCache = new Map<string, Array<{ code: string; name: string; worst: Severity | null }>>()
  private readonly classMembersCache = new Map<string, string[]>()
  private readonly membersOf
  private readonly atcName
  private readonly sourceList: DdiSourceInfo[]

  constructor(
    private readonly ddi: DdiService,
    kb: KnowledgeDb,
    private readonly resolver: DrugResolver
  ) {
    // ATC5 codes under a class prefix whose drug an interaction source files (lists every interaction of).
    this.membersOf = kb
      .prepare(`SELECT DISTINCT da.atc5 FROM drug_atc da JOIN drugs d ON d.id = da.drug_id WHERE d.filed_groups IS NOT NULL AND da.atc5 LIKE ? || '%' ORDER BY da.atc5`)
      .pluck()
    this.atcName = kb.prepare(`SELECT name FROM atc WHERE code = ?`).pluck()
    this.sourceList = ddi.sources()
  }

  /** What to give the DDI check for a medication: an ATC5 code, a name the knowledge base knows, or an ATC3 class. */
  private inputFor(item: MedicationItem): { input: string | null; reason: string | null } {
    const key = `${item.atc ?? ''}\u0001${item.drug?.rawName ?? item.label}\u0001${item.drug?.ndc ?? ''}`
    const hit = this.inputCache.get(key)
    if (hit) return hit
    if (this.inputCache.size > CACHE_LIMIT) this.inputCache.clear()
    const known = (input: string): boolean => {
      try {
        this.ddi.resolve([input])
        return true
      } catch (error) {
        if (error instanceof UnknownDrugError) return false
        throw error
      }
    }
    let result: { input: string | null; reason: string | null } = { input: null, reason: `"${item.label}" maps to no ATC code and is not a name the knowledge base knows` }
    const mapping = item.drug ? mapFhirDrug(this.resolver, item.drug) : null
    for (const candidate of [item.atc, mapping?.atc5, item.drug?.rawName, mapping?.atc3]) {
      if (candidate && (ATC5.test(candidate) || ATC3.test(candidate) || candidate === item.drug?.rawName) && known(candidate)) {
        result = { input: candidate, reason: null }
        break
      }
    }
    this.inputCache.set(key, result)
    return result
  }

  cards(hook: HookName, picture: PatientPicture, orders: { introduced: MedicationItem[]; otherDrafts: MedicationItem[] }): CdsCard[] {
    const drugs: CheckedDrug[] = []
    const byInput = new Map<string, CheckedDrug>()
    const unchecked: Array<{ label: string; reason: string }> = []
    const add = (item: MedicationItem, introduced: boolean): void => {
      const { input, reason } = this.inputFor(item)
      if (!input) {
        unchecked.push({ label: item.label, reason: reason! })
        return
      }
      const existing = byInput.get(input)
      if (existing) {
        existing.items.push(item)
        existing.introduced ||= introduced
        return
      }
      const drug = { input, label: item.label, items: [item], introduced }
      byInput.set(input, drug)
      drugs.push(drug)
    }
    for (const item of orders.introduced) add(item, true)
    for (const item of [...orders.otherDrafts, ...picture.medications]) add(item, false)

    const result = drugs.length > 0 ? this.ddi.check(drugs.map((d) => d.input)) : null
    const cards: CdsCard[] = []
    const orderHook = hook !== 'patient-view'
    for (const warning of result?.warnings ?? []) {
      const a = byInput.get(result!.drugs[warning.a]!.input)!
      const b = byInput.get(result!.drugs[warning.b]!.input)!
      if (orderHook && !a.introduced && !b.introduced) continue // already on the list: not this order's doing
      const indicator = orderHook
        ? warning.tier === 'interrupt'
          ? 'critical'
          : warning.tier === 'inline'
            ? 'warning'
            : 'info'
        : warning.tier === 'interrupt'
          ? 'warning'
          : 'info'
      if (!orderHook && warning.tier === 'details') continue
      const source = warning.evidence[0]!.source
      const card: CdsCard = {
        uuid: randomUUID(),
        summary: truncate(`${warning.severity} interaction: ${a.label} + ${b.label}`, 139),
        detail: this.detail(warning.evidence, result!),
        indicator,
        source: { label: truncate(`${source.name} (${source.license}) via MedRec Desktop`, 200), ...(source.url ? { url: source.url } : {}) }
      }
      if (indicator !== 'info') card.overrideReasons = OVERRIDE_REASONS.map((r) => ({ ...r }))
      if (orderHook && indicator !== 'info') {
        const suggestions = [a, b].filter((d) => d.introduced).flatMap((d) => this.substitutions(d, drugs, picture.patientId, warning.severity))
        if (suggestions.length > 0) {
          suggestions[0]!.isRecommended = true
          card.suggestions = suggestions
          card.selectionBehavior = 'at-most-one'
        }
      }
      cards.push(card)
    }
    if (orderHook) cards.push(...this.allergyCards(picture, drugs.filter((d) => d.introduced)))
    if (unchecked.length > 0) {
      cards.push({
        uuid: randomUUID(),
        summary: truncate(`${unchecked.length} medication(s) could not be checked for interactions`, 139),
        detail: unchecked.map((u) => `- ${u.label}: ${u.reason}`).join('\n'),
        indicator: 'info',
        source: { label: 'MedRec Desktop' }
      })
    }
    if (result && !cards.some((c) => c.indicator !== 'info')) {
      const names = [...new Set(result.checkedSources.map((s) => s.name))].join(', ')
      cards.push({
        uuid: randomUUID(),
        summary: truncate(`${drugs.length} drug(s) checked: no interaction at or above Moderate listed in ${names}`, 139),
        detail: `${result.statement}\n\nAn interaction missing from these sources does not mean the combination is safe.`,
        indicator: 'info',
        source: { label: truncate(`${names} via MedRec Desktop`, 200) }
      })
    }
    return cards
  }

  private detail(evidence: DdiCheckResult['warnings'][number]['evidence'], result: DdiCheckResult): string {
    const lines = evidence.map((e) => {
      const members = e.members
        .slice(0, 5)
        .map((m) => `${m.a.name} + ${m.b.name} (${m.severity})`)
        .join('; ')
      return `**${e.source.name} ${e.source.version}** — ${e.severity}${members ? `: ${members}` : ''}. Licence ${e.source.license}; ${e.source.attribution}.`
    })
    if (result.notCovered.length > 0) lines.push('', result.statement)
    return lines.join('\n')
  }

  /**
   * Safer members of the drug's ATC4, then ATC3 class: their worst listed interaction with the rest of the
   * list is less severe than `severity` (the warning being answered), and a source covers every such pair.
   * Ranked by that worst severity (none first), then class proximity.
   */
  private substitutions(drug: CheckedDrug, all: CheckedDrug[], patientId: string, severity: Severity): CdsSuggestion[] {
    if (!ATC5.test(drug.input)) return []
    const others = all.filter((d) => d !== drug).map((d) => d.input)
    const key = `${drug.input}|${severity}|${[...others].sort().join(',')}`
    let found = this.substituteCache.get(key)
    if (!found) {
      if (this.substituteCache.size > CACHE_LIMIT) this.substituteCache.clear()
      const ranked: Array<{ code: string; name: string; worst: Severity | null; order: number }> = []
      const candidates = [...new Set([...this.classMembers(drug.input.slice(0, 5)), ...this.classMembers(drug.input.slice(0, 4))])]
        .filter((c) => c !== drug.input && !others.includes(c))
        .slice(0, MAX_CANDIDATES)
      candidates.forEach((code, order) => {
        const check = this.ddi.check([code, ...others], { pairsWith: 0 }) // only the candidate's pairs matter here
        if (check.notCovered.some((gap) => gap.pairs.some(([i, j]) => i === 0 || j === 0))) return
        const own = check.warnings.filter((w) => w.a === 0 || w.b === 0).map((w) => w.severity)
        const worst = own.length > 0 ? mostSevere(own) : null
        if (worst !== null && severityRank(worst) >= severityRank(severity)) return
        ranked.push({ code, name: (this.atcName.get(code) as string | undefined) ?? code, worst, order })
      })
      const rank = (w: Severity | null): number => (w === null ? SEVERITIES.length : SEVERITIES.length - 1 - severityRank(w))
      found = ranked.sort((x, y) => rank(y.worst) - rank(x.worst) || x.order - y.order).slice(0, MAX_SUBSTITUTES)
      this.substituteCache.set(key, found)
    }
    const order = drug.items.find((i) => i.resourceRef !== null)
    return found.map(({ code, name, worst }) => {
      const risk = worst === null ? 'no interaction listed with the other medications' : `at most a ${worst} interaction listed with the other medications`
      return {
        label: truncate(`Replace ${drug.label} with ${name} (${code}): ${risk}`, 139),
        uuid: randomUUID(),
        actions: [
          ...(order ? [{ type: 'delete' as const, description: `Remove the draft order for ${drug.label}`, resourceId: [order.resourceRef!] }] : []),
          {
            type: 'create' as const,
            description: `Order ${name} (same ATC class ${code.slice(0, 4)}) instead: ${risk}`,
            resource: {
              resourceType: 'MedicationRequest',
              status: 'draft',
              intent: 'order',
              subject: { reference: `Patient/${patientId}` },
              medicationCodeableConcept: { coding: [{ system: ATC_SYSTEM, code, display: name }], text: name }
            }
          }
        ]
      }
    })
  }

  private classMembers(prefix: string): string[] {
    let members = this.classMembersCache.get(prefix)
    if (!members) this.classMembersCache.set(prefix, (members = this.membersOf.all(prefix) as string[]))
    return members
  }

  /** An introduced drug whose name or ATC name appears in an active medication (or uncategorised) allergy. */
  private allergyCards(picture: PatientPicture, introduced: CheckedDrug[]): CdsCard[] {
    const cards: CdsCard[] = []
    const relevant = picture.allergies.filter((a) => a.category === null || a.category.includes('medication'))
    for (const drug of introduced) {
      const words = new Set<string>()
      for (const text of [drug.label, ATC5.test(drug.input) ? ((this.atcName.get(drug.input) as string | undefined) ?? '') : '']) {
        const first = text.toLowerCase().match(/[a-z]{4,}/)?.[0]
        if (first) words.add(first)
      }
      const allergy = relevant.find((a) => [...words].some((w) => a.title.toLowerCase().includes(w)))
      if (!allergy) continue
      cards.push({
        uuid: randomUUID(),
        summary: truncate(`Recorded allergy: ${allergy.title} — ordered ${drug.label}`, 139),
        detail: `The patient's record lists "${allergy.title}"${allergy.code ? ` (code ${allergy.code})` : ''}, and the order names ${drug.label}. Matched by name; check the substance and the reaction.`,
        indicator: 'critical',
        source: { label: 'MedRec Desktop: patient allergy list' },
        overrideReasons: OVERRIDE_REASONS.map((r) => ({ ...r }))
      })
    }
    return cards
  }

  get sources(): DdiSourceInfo[] {
    return this.sourceList
  }
}
