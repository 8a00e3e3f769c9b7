// Local drug overrides: a pharmacist's correction of how a raw drug string resolves ("Sarna lotion" →
// non-drug, "Glycopyrrolate" → A03AB02), kept in the patient database and used by every later import,
// `medrec drugs resolve` and `medrec ddi`. Each change is written to the audit log in the same transaction.
//
// The table is created on first use (CREATE TABLE IF NOT EXISTS) rather than by a numbered migration, so
// this feature adds no schema version that could collide with other work on the migrations list.
import { createHash } from 'node:crypto'
import { appendAudit } from '../audit/audit'
import type { Db } from '../db/database'
import type { DrugOverride, DrugResolver } from './resolver'
import { overrideKey } from './resolver'

export const OVERRIDE_TABLE_SQL = `CREATE TABLE IF NOT EXISTS drug_overrides (
  raw_key TEXT PRIMARY KEY,
  raw_text TEXT NOT NULL,
  target TEXT NOT NULL CHECK (target = 'non-drug' OR target GLOB '[A-Z][0-9][0-9][A-Z][A-Z][0-9][0-9]*'),
  reason TEXT NOT NULL CHECK (length(trim(reason)) > 0),
  user_name TEXT NOT NULL,
  updated_at TEXT NOT NULL
) WITHOUT ROWID`

export interface StoredOverride {
  rawKey: string
  rawText: string
  target: string[] | 'non-drug'
  reason: string
  userName: string
  updatedAt: string
}

export class OverrideError extends Error {}

function hasTable(db: Db): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'drug_overrides'`).pluck().get() !== undefined
}

/** Every override in the database (empty when none was ever set; read-only databases are fine). */
export function listOverrides(db: Db): StoredOverride[] {
  if (!hasTable(db)) return []
  const rows = db.prepare('SELECT raw_key, raw_text, target, reason, user_name, updated_at FROM drug_overrides ORDER BY raw_key').all() as Array<{
    raw_key: string
    raw_text: string
    target: string
    reason: string
    user_name: string
    updated_at: string
  }>
  return rows.map((r) => ({
    rawKey: r.raw_key,
    rawText: r.raw_text,
    target: r.target === 'non-drug' ? 'non-drug' : r.target.split('+'),
    reason: r.reason,
    userName: r.user_name,
    updatedAt: r.updated_at
  }))
}

/** The overrides as the resolver takes them (keyed by the normalised raw string). */
export function overrideMap(db: Db): Map<string, DrugOverride> {
  return new Map(listOverrides(db).map((o) => [o.rawKey, { target: o.target, reason: o.reason }]))
}

/** Loads the database's overrides into a resolver. */
export function applyOverrides(resolver: DrugResolver, db: Db): void {
  resolver.setOverrides(overrideMap(db))
}

/**
 * Sets (or replaces) the override of one raw string: `target` is 'non-drug' or ATC5 codes joined by '+'
 * (a combination). Codes must be in the WHO index the resolver knows. Audited; returns the audit id.
 */
export function setOverride(
  db: Db,
  resolver: DrugResolver,
  input: { raw: string; target: string; reason: string; userName: string }
): { override: StoredOverride; auditId: number } {
  const raw = input.raw.trim()
  const rawKey = overrideKey(raw)
  if (rawKey === '') throw new OverrideError('The raw drug string is empty: give the name exactly as the source writes it.')
  const reason = input.reason.trim()
  if (reason === '') throw new OverrideError('An override needs a reason (--reason "…"): it is written to the audit log.')
  const targetText = input.target.trim()
  let target: string[] | 'non-drug'
  if (targetText.toLowerCase() === 'non-drug') target = 'non-drug'
  else {
    target = targetText.toUpperCase().split('+').map((c) => c.trim())
    const bad = target.filter((c) => !/^[A-Z]\d\d[A-Z]{2}\d\d$/.test(c) || !resolver.isKnownAtc5(c))
    if (bad.length > 0) throw new OverrideError(`Not an ATC level-5 code of the WHO index: ${bad.join(', ')} (give ATC5 codes joined by "+", or non-drug).`)
  }
  const stored = target === 'non-drug' ? 'non-drug' : target.join('+')
  const now = new Date().toISOString()
  const previous = listOverrides(db).find((o) => o.rawKey === rawKey) ?? null
  let auditId = 0
  db.transaction(() => {
    db.exec(OVERRIDE_TABLE_SQL)
    db.prepare(
      `INSERT INTO drug_overrides (raw_key, raw_text, target, reason, user_name, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (raw_key) DO UPDATE SET raw_text = excluded.raw_text, target = excluded.target, reason = excluded.reason,
         user_name = excluded.user_name, updated_at = excluded.updated_at`
    ).run(rawKey, raw, stored, reason, input.userName, now)
    auditId = appendAudit(db, {
      kind: 'drug-override',
      patientId: null,
      sourcePatientId: null,
      inputsHash: createHash('sha256').update(`drug-override\n${rawKey}\n${stored}\n${reason}`).digest('hex'),
      modelId: null,
      modelVersion: null,
      outputs: { raw, rawKey, target: stored, reason, previous: previous ? { target: previous.target, reason: previous.reason } : null },
      createdAt: now
    })
    // IMMEDIATE: the write lock is taken (waiting up to the busy timeout) before the first read, never upgraded.
  }).immediate()
  applyOverrides(resolver, db)
  return { override: { rawKey, rawText: raw, target, reason, userName: input.userName, updatedAt: now }, auditId }
}
