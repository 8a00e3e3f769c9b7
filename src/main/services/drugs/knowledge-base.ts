import type { Severity } from '../../../shared/domain/interaction'
import Database from 'better-sqlite3'
import { existsSync } from 'node:fs'
import { importInteractionTable, removeSource, type TableLoadOptions, type TableLoadReport } from '../interactions/interaction-table'
import { KB_SCHEMA_VERSION, type SourceCoverage, type SourceKind } from './knowledge-schema'
import type { SourceDefinition } from './knowledge-sources'

export type KnowledgeDb = Database.Database

/** A source as stored: its definition plus the row id that pairs reference. */
export interface KnowledgeSource extends SourceDefinition {
  id: number
}

/**
 * Opens a knowledge base built by buildKnowledgeBase. Refuses a missing file or another schema version
 * with a message that says how to rebuild; read-only unless `writable` (loading a hospital table).
 */
export function openKnowledgeBase(path: string, options: { writable?: boolean } = {}): KnowledgeDb {
  if (!existsSync(path)) {
    throw new Error(`No knowledge base at ${path}. Build it with "npm run knowledge" (or pass --kb <path>).`)
  }
  const db = new Database(path, { readonly: !options.writable, fileMustExist: true })
  const version = db.pragma('user_version', { simple: true }) as number
  if (version !== KB_SCHEMA_VERSION) {
    db.close()
    throw new Error(
      `Knowledge base ${path} has schema version ${version}, this app reads version ${KB_SCHEMA_VERSION}. Rebuild it with "npm run knowledge".`
    )
  }
  if (options.writable) db.pragma('foreign_keys = ON')
  return db
}

export function listSources(db: KnowledgeDb): KnowledgeSource[] {
  const rows = db.prepare('SELECT * FROM sources ORDER BY id').all() as {
    id: number
    key: string
    kind: SourceKind
    name: string
    version: string
    license: string
    attribution: string
    url: string
    severity_graded: number
    coverage: string
    coverage_note: string
  }[]
  return rows.map((r) => ({
    id: r.id,
    key: r.key,
    kind: r.kind,
    name: r.name,
    version: r.version,
    license: r.license,
    attribution: r.attribution,
    url: r.url,
    severityGraded: r.severity_graded === 1,
    coverage: JSON.parse(r.coverage) as SourceCoverage,
    coverageNote: r.coverage_note
  }))
}

export function atcName(db: KnowledgeDb, code: string): string | null {
  return (db.prepare('SELECT name FROM atc WHERE code = ?').pluck().get(code.toUpperCase()) as string | undefined) ?? null
}

/** The ATC level-5 drugs of an ATC3 class, with names. */
export function atc3Members(db: KnowledgeDb, atc3: string): { code: string; name: string }[] {
  return db.prepare('SELECT code, name FROM atc WHERE atc3 = ? AND level = 5 ORDER BY code').all(atc3.toUpperCase()) as {
    code: string
    name: string
  }[]
}

export function atc3Smiles(db: KnowledgeDb, atc3: string): string[] {
  return db.prepare('SELECT smiles FROM atc3_smiles WHERE atc3 = ? ORDER BY ordinal').pluck().all(atc3.toUpperCase()) as string[]
}

export interface ClassPairRow {
  sourceKey: string
  atc3A: string
  atc3B: string
  basis: 'lifted' | 'class'
  severity: Severity
  counts: Record<Severity, number>
}

/**
 * ATC3 class pairs (e.g. for a binary DDI matrix or the DDI-rate metric), optionally from some sources only.
 * Each row names its source.
 */
export function classPairs(db: KnowledgeDb, sourceKeys?: readonly string[]): ClassPairRow[] {
  const rows = db
    .prepare(
      `SELECT s.key, c.atc3_a, c.atc3_b, c.basis, c.severity, c.n_contraindicated, c.n_major, c.n_moderate, c.n_minor, c.n_unknown
         FROM class_pairs c JOIN sources s ON s.id = c.source_id
        ORDER BY c.atc3_a, c.atc3_b, s.id`
    )
    .all() as {
    key: string
    atc3_a: string
    atc3_b: string
    basis: 'lifted' | 'class'
    severity: Severity
    n_contraindicated: number
    n_major: number
    n_moderate: number
    n_minor: number
    n_unknown: number
  }[]
  return rows
    .filter((r) => !sourceKeys || sourceKeys.includes(r.key))
    .map((r) => ({
      sourceKey: r.key,
      atc3A: r.atc3_a,
      atc3B: r.atc3_b,
      basis: r.basis,
      severity: r.severity,
      counts: { Contraindicated: r.n_contraindicated, Major: r.n_major, Moderate: r.n_moderate, Minor: r.n_minor, Unknown: r.n_unknown }
    }))
}

export interface CoverageCell {
  sourceKey: string
  groupA: string
  groupB: string
  pairs: number
  claimed: boolean
}

/** Measured drug pairs per source and ATC anatomical group pair, with the source's coverage claim. */
export function coverageMatrix(db: KnowledgeDb): CoverageCell[] {
  return (
    db
      .prepare(
        `SELECT s.key, c.group_a, c.group_b, c.pairs, c.claimed FROM coverage c JOIN sources s ON s.id = c.source_id
          ORDER BY s.id, c.group_a, c.group_b`
      )
      .all() as { key: string; group_a: string; group_b: string; pairs: number; claimed: number }[]
  ).map((r) => ({ sourceKey: r.key, groupA: r.group_a, groupB: r.group_b, pairs: r.pairs, claimed: r.claimed === 1 }))
}

/**
 * Loads a hospital's interaction table (docs/hospital-interactions.md) into the knowledge base file at
 * kbPath. Malformed rows throw InteractionTableError naming file and line; nothing is then written.
 */
export function loadInteractionTable(
  kbPath: string,
  csvPath: string,
  options: Omit<TableLoadOptions, 'kind'> = {}
): TableLoadReport {
  const db = openKnowledgeBase(kbPath, { writable: true })
  try {
    return importInteractionTable(db, csvPath, { ...options, kind: 'hospital' })
  } finally {
    db.close()
  }
}

/** Removes a hospital table (by source key, e.g. "hospital:st-olav-interactions"). */
export function unloadInteractionTable(kbPath: string, sourceKey: string): boolean {
  if (!sourceKey.startsWith('hospital:')) throw new Error(`Only hospital tables can be removed; "${sourceKey}" is built in.`)
  const db = openKnowledgeBase(kbPath, { writable: true })
  try {
    return db.transaction(() => removeSource(db, sourceKey))()
  } finally {
    db.close()
  }
}
