// Drug look-ups the workspace screens need from the knowledge base: search by name or ATC code (for the
// pharmacist's drug picker), the WHO members of an ATC3 class, class names and member SMILES. The WHO
// index (about 7,000 codes) and the alias names are read once into memory; a search is then a scan of a
// few thousand strings (well under a millisecond).
import type { AtcDrug, DrugSearchHit } from '../../../shared/domain/drug'
import { atc3Members, atc3Smiles, type KnowledgeDb, listSources } from './knowledge-base'
import { curatedNameSynonyms } from './load'
import type { DrugResolver } from './resolver'
import { nameKey } from './who-names'

interface CatalogEntry {
  code: string
  name: string
  key: string
  level: 3 | 5
  atc3: string
}

interface AliasEntry {
  alias: string
  key: string
  code: string
}

/** How well a hit matches; lower is better. */
const Rank = { ExactCode: 0, CodePrefix: 1, ExactName: 2, NamePrefix: 3, WordPrefix: 4, Contains: 5 } as const
type Rank = (typeof Rank)[keyof typeof Rank]

/** "ANTITHROMBOTIC AGENTS" → "Antithrombotic agents"; names already in mixed case are kept. */
export function displayName(name: string): string {
  if (name !== name.toUpperCase()) return name
  const lower = name.toLowerCase()
  return lower.charAt(0).toUpperCase() + lower.slice(1)
}

export class DrugCatalog {
  private entries: CatalogEntry[] | null = null
  private aliases: AliasEntry[] | null = null
  private byCode: Map<string, CatalogEntry> | null = null

  constructor(private readonly kb: KnowledgeDb) {}

  /** The one drug resolver: brands, abbreviations, misspellings and combinations the WHO names miss. */
  private resolver: DrugResolver | null = null

  useResolver(resolver: DrugResolver): this {
    this.resolver = resolver
    return this
  }

  private load(): { entries: CatalogEntry[]; aliases: AliasEntry[]; byCode: Map<string, CatalogEntry> } {
    if (!this.entries || !this.aliases || !this.byCode) {
      const rows = this.kb.prepare('SELECT code, name, level FROM atc WHERE level IN (3, 5) ORDER BY code').all() as Array<{
        code: string
        name: string
        level: 3 | 5
      }>
      this.entries = rows.map((r) => ({ code: r.code, name: displayName(r.name), key: nameKey(r.name), level: r.level, atc3: r.code.slice(0, 4) }))
      this.byCode = new Map(this.entries.map((e) => [e.code, e]))
      const aliasRows = this.kb
        .prepare(`SELECT DISTINCT display AS alias, name_key AS key, atc5 AS code FROM drug_names WHERE atc5 IS NOT NULL AND via != 'who'`)
        .all() as AliasEntry[]
      const whoKeys = new Map(this.entries.filter((e) => e.level === 5).map((e) => [e.key, e.code]))
      // US names (acetaminophen, albuterol…) point at the WHO entry of the same substance: the resolver's
      // curated names, so the picker and the resolver share one name table.
      const usAliases = [...curatedNameSynonyms()].flatMap(([us, who]) => {
        const code = /^[A-Z]\d\d[A-Z]{2}\d\d$/.test(who) ? who : whoKeys.get(nameKey(who))
        return code ? [{ alias: us, key: nameKey(us), code }] : []
      })
      this.aliases = [...aliasRows, ...usAliases]
    }
    return { entries: this.entries, aliases: this.aliases, byCode: this.byCode }
  }

  /** The class or drug name of an ATC code (levels 3 and 5), null when the index has none. */
  name(code: string): string | null {
    return this.load().byCode.get(code.toUpperCase())?.name ?? null
  }

  members(atc3: string): AtcDrug[] {
    return atc3Members(this.kb, atc3).map((m) => ({ code: m.code, name: displayName(m.name) }))
  }

  smiles(atc3: string): string[] {
    return atc3Smiles(this.kb, atc3)
  }

  /** The knowledge source the SMILES come from, with its license. */
  structureSource(): { name: string; license: string } | null {
    const source = listSources(this.kb).find((s) => s.kind === 'structure')
    return source ? { name: source.name, license: source.license } : null
  }

  /**
   * Drugs (ATC level 5) and classes (level 3) matching `text` by code or name (WHO names and source
   * aliases), best matches first: exact code, code prefix, exact name, name prefix, word prefix, contains.
   */
  search(text: string, limit: number): DrugSearchHit[] {
    const { entries, aliases, byCode } = this.load()
    const query = nameKey(text)
    if (query.length === 0) return []
    const codeQuery = text.trim().toUpperCase()
    const best = new Map<string, { rank: Rank; alias: string | null }>()
    const offer = (code: string, rank: Rank, alias: string | null): void => {
      const previous = best.get(code)
      if (!previous || rank < previous.rank) best.set(code, { rank, alias })
    }
    const nameRank = (key: string): Rank | null => {
      if (key === query) return Rank.ExactName
      if (key.startsWith(query)) return Rank.NamePrefix
      const at = key.indexOf(query)
      if (at < 0) return null
      return /[\s(,/-]/.test(key.charAt(at - 1)) ? Rank.WordPrefix : Rank.Contains
    }
    for (const entry of entries) {
      if (entry.code === codeQuery) offer(entry.code, Rank.ExactCode, null)
      else if (codeQuery.length >= 2 && entry.code.startsWith(codeQuery)) offer(entry.code, Rank.CodePrefix, null)
      const rank = query.length >= 2 ? nameRank(entry.key) : null
      if (rank !== null) offer(entry.code, rank, null)
    }
    // What a pharmacist types ("Percocet", "KCl", "albuterol inhaler"): the resolver's ingredients, as
    // exact-name hits labelled with the text that matched; a non-drug or ambiguous string adds nothing.
    const resolved = query.length >= 2 ? this.resolver?.resolve({ text }) : undefined
    if (resolved?.status === 'resolved') for (const ingredient of resolved.ingredients) if (byCode.has(ingredient.atc5)) offer(ingredient.atc5, Rank.ExactName, text.trim())
    if (query.length >= 3) {
      for (const alias of aliases) {
        const rank = nameRank(alias.key)
        if (rank !== null && byCode.has(alias.code) && alias.key !== byCode.get(alias.code)?.key) offer(alias.code, rank, alias.alias)
      }
    }
    return [...best.entries()]
      .map(([code, match]) => ({ entry: byCode.get(code)!, ...match }))
      .sort((a, b) => a.rank - b.rank || b.entry.level - a.entry.level || a.entry.name.localeCompare(b.entry.name) || a.entry.code.localeCompare(b.entry.code))
      .slice(0, limit)
      .map(({ entry, alias }) => ({
        code: entry.code,
        name: entry.name,
        level: entry.level,
        atc3: entry.atc3,
        atc3Name: byCode.get(entry.atc3)?.name ?? null,
        // Kept only when the alias matched better than the code or WHO name (offer keeps the best rank).
        matchedAlias: alias
      }))
  }
}
