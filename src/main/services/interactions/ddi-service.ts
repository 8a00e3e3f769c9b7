import {
  type DdiCheckedDrug,
  type DdiCheckResult,
  type DdiCoverageGap,
  type DdiEvidence,
  type DdiMemberPair,
  type DdiSourceInfo,
  type DdiTier,
  type DdiWarning,
  mostSevere,
  SEVERITIES,
  type Severity,
  severityRank
} from '../../../shared/domain/interaction'
import { defaultKnowledgeBasePath } from '../paths'
import { listSources, openKnowledgeBase, type KnowledgeDb } from '../drugs/knowledge-base'
import { coverageClaims, groupsOf } from './class-lift'
import { nameKey } from '../drugs/who-names'
import { type SourceCoverage } from '../drugs/knowledge-schema'
import type { DrugResolver } from '../drugs/resolver'
import { PairIndex } from './pair-index'

/** Contraindicated/Major interrupt the user, Moderate shows inline, Minor/Unknown sit in the details. */
export function tierFor(severity: Severity): DdiTier {
  if (severity === 'Contraindicated' || severity === 'Major') return 'interrupt'
  if (severity === 'Moderate') return 'inline'
  return 'details'
}

export interface UnknownDrugInput {
  input: string
  reason: string
  suggestions: string[]
}

/** Thrown by check()/resolve() when an input is neither a known ATC code (level 3 or 5) nor a known name. */
export class UnknownDrugError extends Error {
  override name = 'UnknownDrugError'
  constructor(readonly unknown: UnknownDrugInput[]) {
    super(
      unknown
        .map((u) => `${u.reason}${u.suggestions.length > 0 ? ` Did you mean: ${u.suggestions.join(', ')}?` : ''}`)
        .join('\n')
    )
  }
}

interface SourceEntry extends DdiSourceInfo {
  id: number
  coverage: SourceCoverage
}

interface ClassPairEntry {
  id: number
  sourceId: number
  basis: 'lifted' | 'class'
  severity: Severity
  counts: Record<Severity, number>
}

/** A resolved input: what it stands for, and (for drugs) the source drugs that represent it. */
interface ResolvedInput {
  drug: DdiCheckedDrug
  /** The ATC3 class for a class input; null for a drug. */
  atc3: string | null
  /** ATC3 classes of the drug's codes (for class-level signals). */
  atc3s: string[]
  /** Knowledge-base drug ids standing for a drug input (empty for a class). */
  drugIds: number[]
  /** Sources shown to list every interaction of this drug (see drugs.filed_groups). */
  filedIn: Set<number>
}

export interface DdiCheckOptions {
  /** Member drug pairs listed per evidence (the counts always cover all of them). Default 10. */
  maxMembers?: number
  /**
   * Check only the pairs that involve the input at this index (e.g. a candidate substitute against the
   * rest of a medication list), not every pair: n - 1 pairs instead of n(n - 1)/2.
   */
  pairsWith?: number
}

const DEFAULT_MAX_MEMBERS = 10
const MEMBER_PACK = 2 ** 24 // class pair id and drug pair id packed into one number while loading
const ATC5 = /^[A-Z]\d\d[A-Z]{2}\d\d$/
const ATC3 = /^[A-Z]\d\d[A-Z]$/
const ANY_ATC = /^[A-Z](\d\d([A-Z]([A-Z](\d\d)?)?)?)?$/
const INTERACTION_KINDS = new Set(['reference', 'curated', 'hospital', 'signal'])
function emptyCounts(): Record<Severity, number> {
  return Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>
}

/**
 * Drug–drug interaction checks over the knowledge base. Opening loads the drug and pair index into
 * memory (a few hundred ms); a check then costs microseconds per pair. Inputs are ATC level-5 codes,
 * ATC level-3 classes or drug names, in any mix.
 */
export class DdiService {
  private readonly sourcesById = new Map<number, SourceEntry>()
  private readonly atc = new Map<string, { name: string; level: number }>()
  private readonly names = new Map<string, { display: string; codes: Set<string>; drugIds: Set<number> }>()
  private readonly drugName: string[] = []
  private readonly drugSource: number[] = []
  private readonly filedDrugs = new Set<number>()
  /** Sources that record per drug where it is filed; their group claim is then checked drug by drug. */
  private readonly sourcesWithFiling = new Set<number>()
  private readonly drugCodes: string[][] = []
  private readonly drugsByCode = new Map<string, number[]>()
  private readonly drugsByNameKey = new Map<string, number[]>()
  private readonly pairs: PairIndex
  private readonly classPairs = new Map<string, ClassPairEntry[]>()
  /** Drug pair ids behind each lifted class pair (most severe first): memberPairIds[memberStart[id] .. memberStart[id + 1]). */
  private readonly memberStart: Int32Array
  private readonly memberPairIds: Int32Array

  private constructor(private readonly db: KnowledgeDb) {
    for (const source of listSources(db)) {
      if (!INTERACTION_KINDS.has(source.kind)) continue
      const { coverage, id, ...info } = source
      this.sourcesById.set(id, { ...(info as DdiSourceInfo), id, coverage })
    }
    for (const row of db.prepare('SELECT code, name, level FROM atc').iterate() as IterableIterator<{ code: string; name: string; level: number }>) {
      this.atc.set(row.code, { name: row.name, level: row.level })
    }
    for (const row of db.prepare('SELECT id, source_id, name, name_key, filed_groups FROM drugs').iterate() as IterableIterator<{
      id: number
      source_id: number
      name: string
      name_key: string
      filed_groups: string | null
    }>) {
      this.drugName[row.id] = row.name
      this.drugSource[row.id] = row.source_id
      if (row.filed_groups !== null) {
        this.filedDrugs.add(row.id)
        this.sourcesWithFiling.add(row.source_id)
      }
      this.drugCodes[row.id] = []
      this.push(this.drugsByNameKey, row.name_key, row.id)
    }
    for (const row of db.prepare('SELECT drug_id, atc5 FROM drug_atc').iterate() as IterableIterator<{ drug_id: number; atc5: string }>) {
      this.drugCodes[row.drug_id]?.push(row.atc5)
      this.push(this.drugsByCode, row.atc5, row.drug_id)
    }
    for (const row of db.prepare('SELECT name_key, display, atc5, drug_id FROM drug_names').iterate() as IterableIterator<{
      name_key: string
      display: string
      atc5: string | null
      drug_id: number | null
    }>) {
      const entry = this.names.get(row.name_key) ?? { display: row.display, codes: new Set<string>(), drugIds: new Set<number>() }
      if (row.atc5) entry.codes.add(row.atc5)
      if (row.drug_id !== null) entry.drugIds.add(row.drug_id)
      this.names.set(row.name_key, entry)
    }
    this.pairs = new PairIndex(db)
    for (const row of db
      .prepare(
        'SELECT id, source_id, atc3_a, atc3_b, basis, severity, n_contraindicated, n_major, n_moderate, n_minor, n_unknown FROM class_pairs'
      )
      .iterate() as IterableIterator<{
      id: number
      source_id: number
      atc3_a: string
      atc3_b: string
      basis: 'lifted' | 'class'
      severity: Severity
      n_contraindicated: number
      n_major: number
      n_moderate: number
      n_minor: number
      n_unknown: number
    }>) {
      const key = `${row.atc3_a}|${row.atc3_b}`
      const list = this.classPairs.get(key) ?? []
      list.push({
        id: row.id,
        sourceId: row.source_id,
        basis: row.basis,
        severity: row.severity,
        counts: { Contraindicated: row.n_contraindicated, Major: row.n_major, Moderate: row.n_moderate, Minor: row.n_minor, Unknown: row.n_unknown }
      })
      this.classPairs.set(key, list)
    }
    // Members of every lifted class pair, ranked most severe first: one packed number per row keeps the load fast.
    const packed = db
      .prepare(`SELECT class_pair_id * ${MEMBER_PACK} + drug_pair_id FROM class_pair_members ORDER BY class_pair_id, rank`)
      .pluck()
      .all() as number[]
    const maxClassPair = (db.prepare('SELECT COALESCE(MAX(id), 0) FROM class_pairs').pluck().get() as number) + 1
    this.memberStart = new Int32Array(maxClassPair + 1)
    this.memberPairIds = new Int32Array(packed.length)
    packed.forEach((value, index) => {
      this.memberPairIds[index] = value % MEMBER_PACK
      this.memberStart[Math.floor(value / MEMBER_PACK) + 1]!++
    })
    for (let id = 1; id <= maxClassPair; id++) this.memberStart[id]! += this.memberStart[id - 1]!
  }

  /** Opens the knowledge base (default resources/knowledge.sqlite or $MEDREC_KB) read-only. */
  static open(kbPath: string = defaultKnowledgeBasePath()): DdiService {
    return new DdiService(openKnowledgeBase(kbPath))
  }

  /** The one drug resolver (services/drugs): local overrides, then names the knowledge base does not list. */
  private resolver: DrugResolver | null = null

  /** Names pharmacists use (US names, brands, abbreviations, combinations, local overrides) go through it. */
  useResolver(resolver: DrugResolver): this {
    this.resolver = resolver
    return this
  }

  close(): void {
    this.db.close()
  }

  /** The interaction sources this service consults, with license and coverage. */
  sources(): DdiSourceInfo[] {
    return [...this.sourcesById.values()].map(({ id: _id, coverage: _coverage, ...info }) => info)
  }

  /** Class pairs among ATC3 codes, one entry per source: what recommendation decoding needs. */
  classInteractions(atc3Codes: readonly string[]): { a: string; b: string; severity: Severity; source: DdiSourceInfo }[] {
    const codes = [...new Set(atc3Codes.map((c) => c.toUpperCase()))]
    const result: { a: string; b: string; severity: Severity; source: DdiSourceInfo }[] = []
    for (let i = 0; i < codes.length; i++) {
      for (let j = i + 1; j < codes.length; j++) {
        const [a, b] = [codes[i]!, codes[j]!].sort() as [string, string]
        for (const entry of this.classPairs.get(`${a}|${b}`) ?? []) {
          const source = this.sourcesById.get(entry.sourceId)
          if (source) result.push({ a, b, severity: entry.severity, source })
        }
      }
    }
    return result
  }

  /**
   * Drug pairs among ATC level-5 codes, one entry per pair and source with that source's most severe member
   * pair: what drug-level recommendation needs. Codes no source drug carries have no pairs.
   */
  drugInteractions(atc5Codes: readonly string[]): { a: string; b: string; severity: Severity; source: DdiSourceInfo }[] {
    const codes = [...new Set(atc5Codes.map((c) => c.toUpperCase()))].filter((c) => ATC5.test(c)).sort()
    const result: { a: string; b: string; severity: Severity; source: DdiSourceInfo }[] = []
    for (let i = 0; i < codes.length; i++) {
      const drugsA = this.drugsByCode.get(codes[i]!) ?? []
      if (drugsA.length === 0) continue
      for (let j = i + 1; j < codes.length; j++) {
        const worst = new Map<number, Severity>()
        for (const x of drugsA) {
          for (const y of this.drugsByCode.get(codes[j]!) ?? []) {
            const pairId = this.pairs.find(x, y)
            if (pairId === undefined) continue
            const sourceId = this.pairs.source(pairId)
            const severity = this.pairs.severity(pairId)
            const before = worst.get(sourceId)
            if (before === undefined || severityRank(severity) > severityRank(before)) worst.set(sourceId, severity)
          }
        }
        for (const [sourceId, severity] of worst) {
          const source = this.sourcesById.get(sourceId)
          if (source) result.push({ a: codes[i]!, b: codes[j]!, severity, source: this.publicSource(source) })
        }
      }
    }
    return result
  }

  /**
   * Whether some loaded source claims to list every interaction of these two ATC5 drugs, so that the absence of a
   * pair means the source knows of none (see covers()). False for a code the ATC index lacks.
   */
  coversDrugPair(atc5A: string, atc5B: string): boolean {
    const a = this.resolveOne(atc5A)
    const b = this.resolveOne(atc5B)
    if ('reason' in a || 'reason' in b) return false
    return [...this.sourcesById.values()].some((source) => this.covers(source, a, b))
  }

  /** Resolves inputs (ATC5, ATC3 or names); throws UnknownDrugError listing every unknown input. */
  resolve(inputs: readonly string[]): DdiCheckedDrug[] {
    return this.resolveAll(inputs).map((r) => r.drug)
  }

  /**
   * Checks every pair of the given drugs against every loaded source. Returns the warnings (most severe
   * first, each naming its sources), the sources checked, and the ATC group pairs no source covers.
   */
  check(inputs: readonly string[], options: DdiCheckOptions = {}): DdiCheckResult {
    const started = performance.now()
    const maxMembers = options.maxMembers ?? DEFAULT_MAX_MEMBERS
    const resolved = this.resolveAll(inputs)
    const warnings: DdiWarning[] = []
    const gaps = new Map<string, DdiCoverageGap>()
    const sources = [...this.sourcesById.values()]
    for (let i = 0; i < resolved.length; i++) {
      for (let j = i + 1; j < resolved.length; j++) {
        if (options.pairsWith !== undefined && i !== options.pairsWith && j !== options.pairsWith) continue
        const a = resolved[i]!
        const b = resolved[j]!
        const evidence = this.evidenceFor(a, b, maxMembers)
        if (evidence.length > 0) {
          const severity = mostSevere(evidence.map((e) => e.severity))
          warnings.push({
            a: i,
            b: j,
            severity,
            tier: tierFor(severity),
            level: a.atc3 === null && b.atc3 === null ? 'drug' : 'class',
            evidence
          })
        }
        if (!sources.some((s) => this.covers(s, a, b))) {
          for (const ga of a.drug.groups) {
            for (const gb of b.drug.groups) {
              const [x, y] = [ga, gb].sort() as [string, string]
              const gap = gaps.get(`${x}|${y}`) ?? { groupA: x, groupB: y, pairs: [] }
              if (!gap.pairs.some(([p, q]) => p === i && q === j)) gap.pairs.push([i, j])
              gaps.set(`${x}|${y}`, gap)
            }
          }
        }
      }
    }
    warnings.sort((x, y) => severityRank(y.severity) - severityRank(x.severity) || x.a - y.a || x.b - y.b)
    const drugs = resolved.map((r) => r.drug)
    const notCovered = [...gaps.values()].sort((x, y) => (x.groupA + x.groupB).localeCompare(y.groupA + y.groupB))
    const checkedSources = this.sources()
    return {
      drugs,
      warnings,
      checkedSources,
      notCovered,
      statement: coverageStatement(drugs, warnings, [...this.sourcesById.values()], notCovered),
      elapsedMs: performance.now() - started
    }
  }

  /**
   * Whether a source claims to list every interaction of this pair. For a source that records where it
   * files each drug (DDInter), a drug pair is covered when either drug is filed under a covered group;
   * otherwise, and for classes, the source's group claim decides.
   */
  private covers(source: SourceEntry, a: ResolvedInput, b: ResolvedInput): boolean {
    if (source.coverage.kind === 'groups' && this.sourcesWithFiling.has(source.id) && a.atc3 === null && b.atc3 === null) {
      return a.filedIn.has(source.id) || b.filedIn.has(source.id)
    }
    return coverageClaims(source.coverage, a.drug.groups, b.drug.groups)
  }

  private filedIn(drugIds: readonly number[]): Set<number> {
    return new Set(drugIds.filter((id) => this.filedDrugs.has(id)).map((id) => this.drugSource[id]!))
  }

  // --- resolution ---------------------------------------------------------------------------

  private resolveAll(inputs: readonly string[]): ResolvedInput[] {
    const resolved: ResolvedInput[] = []
    const unknown: UnknownDrugInput[] = []
    const seen = new Set<string>()
    for (const input of inputs) {
      const result = this.resolveOne(input)
      if ('reason' in result) {
        unknown.push(result)
        continue
      }
      const identity = result.atc3 ?? `${[...result.drug.atcCodes].sort().join(',')}|${[...result.drugIds].sort().join(',')}`
      if (seen.has(identity)) continue // the same drug given twice
      seen.add(identity)
      resolved.push(result)
    }
    if (unknown.length > 0) throw new UnknownDrugError(unknown)
    return resolved
  }

  private resolveOne(input: string): ResolvedInput | UnknownDrugInput {
    const text = input.trim()
    if (text === '') return { input, reason: 'An empty drug name was given.', suggestions: [] }
    const upper = text.toUpperCase()
    if (ATC5.test(upper) || ATC3.test(upper)) {
      const atc = this.atc.get(upper)
      if (!atc) return { input, reason: `"${text}" is not a code of the WHO ATC index.`, suggestions: this.suggestCodes(upper) }
      if (ATC3.test(upper)) {
        return {
          drug: { input, label: `${atc.name} (${upper})`, kind: 'atc3', atcCodes: [upper], groups: [upper.charAt(0)] },
          atc3: upper,
          atc3s: [upper],
          drugIds: [],
          filedIn: new Set()
        }
      }
      const drugIds = this.drugsByCode.get(upper) ?? []
      return {
        drug: { input, label: `${atc.name} (${upper})`, kind: 'atc5', atcCodes: [upper], groups: [upper.charAt(0)] },
        atc3: null,
        atc3s: [upper.slice(0, 4)],
        drugIds,
        filedIn: this.filedIn(drugIds)
      }
    }
    if (ANY_ATC.test(upper) && this.atc.has(upper)) {
      return { input, reason: `"${text}" is an ATC code of level ${this.atc.get(upper)!.level}; give a level-3 class or a level-5 drug.`, suggestions: [] }
    }
    const key = nameKey(text)
    const resolution = this.resolver?.resolve({ text })
    // A local override wins over the knowledge base's own names.
    if (resolution?.status === 'resolved' && resolution.paths.includes('override')) return this.fromResolution(input, resolution)
    const named = this.names.get(key)
    const tableDrugs = this.drugsByNameKey.get(key) ?? []
    if (!named && tableDrugs.length === 0) {
      // A misspelling is suggested, not silently checked: the person typing can confirm it.
      if (resolution?.status === 'resolved' && !resolution.paths.includes('misspelling')) return this.fromResolution(input, resolution)
      if (resolution?.status === 'resolved') {
        const suggestions = this.suggestNames(key)
        for (const i of resolution.ingredients) if (!suggestions.some((s) => s.toLowerCase() === i.name)) suggestions.push(i.name)
        return { input, reason: `"${text}" is neither an ATC code nor a drug name the knowledge base knows.`, suggestions }
      }
      if (resolution?.status === 'non-drug') return { input, reason: `"${text}" is not a drug: ${resolution.reason}.`, suggestions: [] }
      if (resolution?.status === 'ambiguous') {
        return { input, reason: `"${text}" is ambiguous: ${resolution.reason}; give the drug's name or ATC code.`, suggestions: resolution.candidates.map((c) => c.name) }
      }
      return { input, reason: `"${text}" is neither an ATC code nor a drug name the knowledge base knows.`, suggestions: this.suggestNames(key) }
    }
    const codes = new Set(named?.codes ?? [])
    for (const id of tableDrugs) for (const code of this.drugCodes[id] ?? []) codes.add(code)
    const drugIds = new Set<number>([...(named?.drugIds ?? []), ...tableDrugs])
    for (const code of codes) for (const id of this.drugsByCode.get(code) ?? []) drugIds.add(id)
    const sortedCodes = [...codes].sort()
    const shown = sortedCodes.length > 3 ? `${sortedCodes.slice(0, 3).join(', ')}, …` : sortedCodes.join(', ')
    return {
      drug: {
        input,
        label: `${named?.display ?? this.drugName[tableDrugs[0]!] ?? text} (${sortedCodes.length > 0 ? shown : 'no ATC code'})`,
        kind: 'name',
        atcCodes: sortedCodes,
        groups: groupsOf(sortedCodes)
      },
      atc3: null,
      atc3s: [...new Set(sortedCodes.map((c) => c.slice(0, 4)))],
      drugIds: [...drugIds],
      filedIn: this.filedIn([...drugIds])
    }
  }

  /** A drug input from the resolver: every ingredient's code, so each is checked for interactions. */
  private fromResolution(input: string, resolution: Extract<ReturnType<DrugResolver['resolve']>, { status: 'resolved' }>): ResolvedInput {
    const codes = [...new Set(resolution.ingredients.map((i) => i.atc5))].sort()
    const drugIds = new Set<number>()
    for (const code of codes) for (const id of this.drugsByCode.get(code) ?? []) drugIds.add(id)
    const names = resolution.ingredients.map((i) => i.name).join(' + ')
    const how = resolution.paths.filter((p) => p !== 'exact-inn').join(', ')
    return {
      drug: { input, label: `${names} (${codes.join(', ')}${how ? `; ${how}` : ''})`, kind: 'name', atcCodes: codes, groups: groupsOf(codes) },
      atc3: null,
      atc3s: [...new Set(codes.map((c) => c.slice(0, 4)))],
      drugIds: [...drugIds],
      filedIn: this.filedIn([...drugIds])
    }
  }

  private suggestNames(key: string): string[] {
    const scored: { name: string; distance: number }[] = []
    for (const [candidate, entry] of this.names) {
      if (Math.abs(candidate.length - key.length) > 3) continue
      const distance = editDistance(key, candidate, 3)
      if (distance <= Math.max(1, Math.min(3, Math.floor(key.length / 4)))) scored.push({ name: entry.display, distance })
    }
    return [...new Set(scored.sort((x, y) => x.distance - y.distance || x.name.localeCompare(y.name)).map((s) => s.name))].slice(0, 5)
  }

  private suggestCodes(code: string): string[] {
    const prefix = code.slice(0, code.length === 7 ? 5 : 3)
    return [...this.atc.keys()].filter((c) => c.length === code.length && c.startsWith(prefix)).slice(0, 5)
  }

  // --- evidence ---------------------------------------------------------------------------------

  private evidenceFor(a: ResolvedInput, b: ResolvedInput, maxMembers: number): DdiEvidence[] {
    const evidence: DdiEvidence[] = []
    // Per source: drug pair id → the pair oriented like the checked pair (a-side drug, its code, b-side code).
    const bySource = new Map<number, Map<number, { aDrug: number; codeA: string | null; codeB: string | null }>>()
    const addHit = (pairId: number, aDrug: number, codeA: string | null, codeB: string | null): void => {
      const sourceId = this.pairs.source(pairId)
      const hits = bySource.get(sourceId) ?? new Map<number, { aDrug: number; codeA: string | null; codeB: string | null }>()
      if (!hits.has(pairId)) hits.set(pairId, { aDrug, codeA, codeB })
      bySource.set(sourceId, hits)
    }

    if (a.atc3 !== null && b.atc3 !== null) {
      // Class × class: the precomputed lifted class pairs (counts over all members), the most severe members listed.
      const [x, y] = [a.atc3, b.atc3].sort() as [string, string]
      for (const entry of this.classPairs.get(`${x}|${y}`) ?? []) {
        const source = this.sourcesById.get(entry.sourceId)
        if (entry.basis !== 'lifted' || !source) continue
        const start = this.memberStart[entry.id]!
        const end = Math.min(this.memberStart[entry.id + 1]!, start + maxMembers)
        const members: DdiMemberPair[] = []
        for (let k = start; k < end; k++) {
          const pairId = this.memberPairIds[k]!
          const [p, q] = this.pairs.drugs(pairId)
          const aDrug = (this.drugCodes[p] ?? []).some((c) => c.startsWith(a.atc3!)) ? p : q
          const bDrug = aDrug === p ? q : p
          const codeA = this.drugCodes[aDrug]?.find((c) => c.startsWith(a.atc3!)) ?? null
          const codeB = this.drugCodes[bDrug]?.find((c) => c.startsWith(b.atc3!)) ?? null
          members.push(this.memberPair(pairId, aDrug, bDrug, codeA, codeB))
        }
        evidence.push({ source: this.publicSource(source), basis: 'drug-pairs', severity: entry.severity, counts: { ...entry.counts }, members })
      }
    } else if (a.atc3 !== null || b.atc3 !== null) {
      // Class × drug: walk the drug's pairs and keep partners that are members of the class.
      const [cls, drug, classIsA] = a.atc3 !== null ? [a.atc3, b, true] : [b.atc3!, a, false]
      const own = new Set(drug.drugIds)
      for (const drugId of drug.drugIds) {
        for (const pairId of this.pairs.pairsOf(drugId)) {
          const partner = this.pairs.partner(pairId, drugId)
          if (own.has(partner)) continue
          const memberCode = this.drugCodes[partner]?.find((c) => c.startsWith(cls))
          if (!memberCode) continue
          const drugCode = this.codeFor(drugId, drug.drug.atcCodes)
          if (classIsA) addHit(pairId, partner, memberCode, drugCode)
          else addHit(pairId, drugId, drugCode, memberCode)
        }
      }
    } else {
      // Drug × drug: every pair between the source drugs standing for each input.
      for (const x of a.drugIds) {
        for (const y of b.drugIds) {
          const pairId = this.pairs.find(x, y)
          if (pairId !== undefined) addHit(pairId, x, this.codeFor(x, a.drug.atcCodes), this.codeFor(y, b.drug.atcCodes))
        }
      }
    }

    for (const [sourceId, hits] of bySource) {
      const source = this.sourcesById.get(sourceId)
      if (!source) continue
      const counts = emptyCounts()
      const members: DdiMemberPair[] = []
      for (const [pairId, { aDrug, codeA, codeB }] of hits) {
        const member = this.memberPair(pairId, aDrug, this.pairs.partner(pairId, aDrug), codeA, codeB)
        counts[member.severity]++
        members.push(member)
      }
      members.sort((x, y) => severityRank(y.severity) - severityRank(x.severity) || x.a.name.localeCompare(y.a.name) || x.b.name.localeCompare(y.b.name))
      const severity = mostSevere(members.map((m) => m.severity))
      evidence.push({ source: this.publicSource(source), basis: 'drug-pairs', severity, counts, members: members.slice(0, maxMembers) })
    }

    // Class-level sources (TWOSIDES ATC3 pairs): a signal between the inputs' classes.
    const classesA = a.atc3 !== null ? [a.atc3] : a.atc3s
    const classesB = b.atc3 !== null ? [b.atc3] : b.atc3s
    const signalled = new Set<number>()
    for (const ca of classesA) {
      for (const cb of classesB) {
        const [x, y] = [ca, cb].sort() as [string, string]
        for (const entry of this.classPairs.get(`${x}|${y}`) ?? []) {
          if (entry.basis !== 'class' || signalled.has(entry.sourceId)) continue
          const source = this.sourcesById.get(entry.sourceId)
          if (!source) continue
          signalled.add(entry.sourceId)
          evidence.push({ source: this.publicSource(source), basis: 'class-signal', severity: entry.severity, counts: { ...emptyCounts(), [entry.severity]: 1 }, members: [] })
        }
      }
    }
    return evidence.sort((x, y) => severityRank(y.severity) - severityRank(x.severity))
  }

  private memberPair(pairId: number, aDrug: number, bDrug: number, codeA: string | null, codeB: string | null): DdiMemberPair {
    return {
      a: { code: codeA, name: this.memberName(aDrug, codeA) },
      b: { code: codeB, name: this.memberName(bDrug, codeB) },
      severity: this.pairs.severity(pairId),
      ...this.pairs.effectAndCitation(pairId)
    }
  }

  /** The code of a source drug to show: one of the input's codes when it has one. */
  private codeFor(drugId: number, inputCodes: readonly string[]): string | null {
    const codes = this.drugCodes[drugId] ?? []
    return codes.find((c) => inputCodes.includes(c)) ?? codes[0] ?? null
  }

  private memberName(drugId: number, code: string | null): string {
    const whoName = code !== null ? this.atc.get(code)?.name : undefined
    return whoName ?? this.drugName[drugId] ?? `drug ${drugId}`
  }

  private publicSource(source: SourceEntry): DdiSourceInfo {
    const { id: _id, coverage: _coverage, ...info } = source
    return info
  }

  private push<K>(map: Map<K, number[]>, key: K, value: number): void {
    const list = map.get(key)
    if (list) list.push(value)
    else map.set(key, [value])
  }
}

/**
 * The sentence shown under every check: which sources were consulted, which group pairs none of them
 * covers, and that the absence of a warning does not mean safety.
 */
export function coverageStatement(
  drugs: readonly DdiCheckedDrug[],
  warnings: readonly DdiWarning[],
  sources: readonly (DdiSourceInfo & { coverage: SourceCoverage })[],
  notCovered: readonly DdiCoverageGap[]
): string {
  const sourceList = sources.map((s) => s.name).join('; ')
  const found =
    warnings.length === 0
      ? `No interaction found among ${drugs.length} drug(s) in: ${sourceList}.`
      : `${warnings.length} interaction warning(s) among ${drugs.length} drug(s) from: ${sourceList}.`
  if (notCovered.length === 0) return `${found} Absence of a warning is not proof that a combination is safe.`
  const gapText = notCovered
    .map((g) => {
      const pairs = g.pairs.slice(0, 3).map(([i, j]) => `${shortLabel(drugs[i])}–${shortLabel(drugs[j])}`)
      const more = g.pairs.length > 3 ? `, +${g.pairs.length - 3} more` : ''
      return `${g.groupA}×${g.groupB} (${pairs.join(', ')}${more})`
    })
    .join('; ')
  const groupSources = sources
    .filter((s) => s.coverage.kind === 'groups')
    .map(
      (s) =>
        `${s.name} lists the complete interactions only of drugs it files under groups ${(s.coverage as { groups: string[] }).groups.join(',')}, and neither drug of these pairs is one`
    )
  const listed = sources.filter((s) => s.coverage.kind === 'listed-pairs').map((s) => s.name)
  const reasons = [...groupSources, ...(listed.length > 0 ? [`Sources listing selected pairs only: ${listed.join('; ')}`] : [])].join('. ')
  return `${found} Not covered by any complete source: ${gapText}. ${reasons}. Absence of a warning is not proof that a combination is safe.`
}

function shortLabel(drug: DdiCheckedDrug | undefined): string {
  if (!drug) return '?'
  return drug.label.replace(/ \(.*\)$/, '')
}

/** Levenshtein distance, giving up (returning limit+1) once it exceeds limit. */
function editDistance(a: string, b: string, limit: number): number {
  let previous = Array.from({ length: b.length + 1 }, (_, k) => k)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    let rowMin = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      const value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost)
      current.push(value)
      rowMin = Math.min(rowMin, value)
    }
    if (rowMin > limit) return limit + 1
    previous = current
  }
  return previous[b.length]!
}
