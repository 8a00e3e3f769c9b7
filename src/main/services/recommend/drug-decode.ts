// DDI-safe decoding at drug level. The combination's classes each carry their chosen drug(s) (drug-choice.ts);
// interactions are checked between those drugs and the patient's current drugs. While a newly recommended drug
// (one the patient does not take on the current visit) is in a pair at or above the blocking severity:
//   1. pick the class to act on by the greedy rule of decode.ts: the smallest class probability per blocking pair
//      its new drugs are in (ties: smaller probability, then the code that sorts first);
//   2. substitute: its next member by the within-class ranking that has no blocking pair with the remaining drugs,
//      where a source covers its pairs with the drugs the replaced one conflicted with (an uncovered pair is unknown,
//      not safe);
//   3. only when no member avoids the conflict, drop the class.
// A drug the patient already takes is never substituted or dropped: a blocking pair between two current drugs
// stays, and the recommended class holding it is flagged for review with the interaction.
// With a DDI-rate target, classes with new drugs are then dropped by the same greedy rule (over all pairs among the
// combination's drugs) until the rate is met or only current drugs interact.
import { isAtLeast, severityRank } from '../../../shared/domain/interaction'
import type { DroppedClass, SubstitutedDrug } from '../../../shared/domain/recommendation'
import type { RecommendationDdiPair, Severity } from '../../../shared/domain/interaction'
import { type DdiChecker } from '../interactions/checker'
import type { ClassChoice } from './drug-choice'

export interface SafeDecodingOptions {
  /** Never co-recommend a new drug with a drug it interacts with at or above this severity. */
  blockSeverity: Severity
  /** Keep the DDI rate of the combination's drugs at or below this (0..1); null: no rate target. */
  maxDdiRate: number | null
}

export interface DrugDecodeResult {
  /** The classes kept, most probable first, with their final drugs. */
  classes: ClassChoice[]
  substituted: SubstitutedDrug[]
  dropped: DroppedClass[]
  /** Drug pairs among the final drugs and the current drugs, one per source. */
  pairs: RecommendationDdiPair[]
}

const pairKey = (a: string, b: string): string => (a < b ? `${a}|${b}` : `${b}|${a}`)

function worst(severities: Iterable<Severity>): Severity {
  let best: Severity = 'Unknown'
  for (const s of severities) if (severityRank(s) > severityRank(best)) best = s
  return best
}

/** Interacting drug pairs / all pairs of `drugs` (0 for fewer than two). */
export function drugDdiRate(drugs: readonly string[], pairs: readonly RecommendationDdiPair[]): number {
  const members = new Set(drugs)
  const n = members.size
  if (n < 2) return 0
  const interacting = new Set(pairs.filter((p) => p.a !== p.b && members.has(p.a) && members.has(p.b)).map((p) => pairKey(p.a, p.b)))
  return interacting.size / ((n * (n - 1)) / 2)
}

/** The class the greedy rule acts on next, among classes with new drugs in `pairs`; null when none. */
function nextClass(
  classes: readonly ClassChoice[],
  pairs: readonly RecommendationDdiPair[],
  isNew: (atc5: string) => boolean
): { cls: ClassChoice; conflictsWith: string[]; severity: Severity } | null {
  let best: { cls: ClassChoice; cost: number; conflictsWith: string[]; severity: Severity } | null = null
  for (const cls of classes) {
    const own = new Set(cls.drugs.filter((d) => isNew(d.atc5)).map((d) => d.atc5))
    if (own.size === 0) continue
    const partners = new Map<string, Severity[]>()
    for (const p of pairs) {
      const partner = own.has(p.a) && !own.has(p.b) ? p.b : own.has(p.b) && !own.has(p.a) ? p.a : null
      if (partner !== null) partners.set(partner, [...(partners.get(partner) ?? []), p.severity])
    }
    if (partners.size === 0) continue
    const cost = cls.probability / partners.size
    const better =
      !best ||
      cost < best.cost ||
      (cost === best.cost && (cls.probability < best.cls.probability || (cls.probability === best.cls.probability && cls.atc3 < best.cls.atc3)))
    if (better) best = { cls, cost, conflictsWith: [...partners.keys()].sort(), severity: worst([...partners.values()].flat()) }
  }
  return best ? { cls: best.cls, conflictsWith: best.conflictsWith, severity: best.severity } : null
}

/**
 * `classes`: the combination at the threshold with chosen drugs; `currentDrugs`: every ATC5 drug of the current
 * visit; `checker`: null when no interaction source is loaded (nothing is checked or changed).
 */
export function decodeDrugs(
  classes: readonly ClassChoice[],
  currentDrugs: readonly string[],
  checker: DdiChecker | null,
  safe: SafeDecodingOptions | null
): DrugDecodeResult {
  let live: ClassChoice[] = classes.map((c) => ({ ...c, drugs: [...c.drugs] }))
  const current = new Set([...currentDrugs, ...classes.flatMap((c) => c.drugs.filter((d) => d.source === 'current').map((d) => d.atc5))])
  const isNew = (atc5: string): boolean => !current.has(atc5)
  const allDrugs = (): string[] => [...new Set([...current, ...live.flatMap((c) => c.drugs.map((d) => d.atc5))])]
  const substituted: SubstitutedDrug[] = []
  const dropped: DroppedClass[] = []
  if (!checker) return { classes: live, substituted, dropped, pairs: [] }

  if (safe) {
    if (safe.maxDdiRate !== null && !(safe.maxDdiRate >= 0 && safe.maxDdiRate <= 1)) {
      throw new Error(`The DDI rate target must lie between 0 and 1, got ${safe.maxDdiRate}.`)
    }
    const blocks = (p: RecommendationDdiPair): boolean => isAtLeast(p.severity, safe.blockSeverity)
    const tried = new Map(live.map((c) => [c.atc3, new Set(c.drugs.map((d) => d.atc5))]))
    for (;;) {
      const blocking = checker.checkDrugs(allDrugs()).filter((p) => blocks(p) && (isNew(p.a) || isNew(p.b)))
      const pick = nextClass(live, blocking, isNew)
      if (!pick) break
      const { cls } = pick
      const others = allDrugs().filter((d) => !cls.drugs.some((own) => own.atc5 === d))
      const triedHere = tried.get(cls.atc3)!
      const from = cls.drugs.map((d) => d.atc5).join('+')
      let replacement: ClassChoice['ranked'][number] | null = null
      for (const member of cls.ranked) {
        if (triedHere.has(member.atc5) || others.includes(member.atc5)) continue
        triedHere.add(member.atc5)
        const conflicts = checker.checkDrugs([member.atc5, ...others]).filter((p) => blocks(p) && (p.a === member.atc5 || p.b === member.atc5))
        // No listed pair is only an answer where a source covers the pair: a substitute the sources say nothing about
        // with the drugs its predecessor conflicted with has not been shown to avoid the conflict.
        if (conflicts.length === 0 && pick.conflictsWith.every((partner) => checker.coversDrugPair(member.atc5, partner))) {
          replacement = member
          break
        }
      }
      if (replacement) {
        substituted.push({
          atc3: cls.atc3,
          from,
          to: replacement.atc5,
          conflictsWith: pick.conflictsWith,
          severity: pick.severity,
          reason: `${from} interacts (${pick.severity}) with ${pick.conflictsWith.join(', ')}; ${replacement.atc5} is the most probable member of ${cls.atc3} without a blocking interaction`
        })
        live = live.map((c) =>
          c.atc3 === cls.atc3 ? { ...c, drugs: [{ atc5: replacement.atc5, name: replacement.name, source: 'model', probability: replacement.probability }] } : c
        )
      } else {
        const triedMembers = [...triedHere].filter((m) => !cls.drugs.some((d) => d.atc5 === m))
        dropped.push({
          atc3: cls.atc3,
          probability: cls.probability,
          drug: from || null,
          reason: 'severity',
          conflictsWith: pick.conflictsWith,
          triedMembers,
          explanation: `${from} interacts (${pick.severity}) with ${pick.conflictsWith.join(', ')}, and ${
            triedMembers.length === 0
              ? 'the class has no other member to try'
              : `no other member tried (${triedMembers.length}) is free of interactions at or above ${safe.blockSeverity} in a source that covers the pair`
          }`
        })
        live = live.filter((c) => c.atc3 !== cls.atc3)
      }
    }
    const target = safe.maxDdiRate
    while (target !== null) {
      const recommended = [...new Set(live.flatMap((c) => c.drugs.map((d) => d.atc5)))]
      const pairs = checker.checkDrugs(recommended)
      if (drugDdiRate(recommended, pairs) <= target) break
      const pick = nextClass(live, pairs, isNew)
      if (!pick) break
      dropped.push({
        atc3: pick.cls.atc3,
        probability: pick.cls.probability,
        drug: pick.cls.drugs.map((d) => d.atc5).join('+') || null,
        reason: 'ddi-rate',
        conflictsWith: pick.conflictsWith,
        triedMembers: [],
        explanation: `dropped to keep the combination's drug-pair DDI rate at or under ${target}`
      })
      live = live.filter((c) => c.atc3 !== pick.cls.atc3)
    }
  }

  const pairs = checker.checkDrugs(allDrugs())
  // Current drugs in a blocking pair stay; the class holding one is flagged for review with the interaction.
  const threshold = safe?.blockSeverity ?? 'Major'
  live = live.map((c) => {
    const own = new Set(c.drugs.filter((d) => !isNew(d.atc5)).map((d) => d.atc5))
    const hits = pairs.filter((p) => isAtLeast(p.severity, threshold) && (own.has(p.a) || own.has(p.b)) && !isNew(p.a) && !isNew(p.b))
    if (hits.length === 0) return c
    const partners = hits.flatMap((p) => (own.has(p.a) && own.has(p.b) ? [p.a, p.b] : [own.has(p.a) ? p.b : p.a]))
    return { ...c, review: { conflictsWith: [...new Set(partners)].sort(), severity: worst(hits.map((p) => p.severity)) } }
  })
  return { classes: live, substituted, dropped, pairs }
}
