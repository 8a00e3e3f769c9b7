import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabase, schemaVersion } from '../../src/main/services/db/database'
import { migrations } from '../../src/main/services/db/migrations'

describe('patient store', () => {
  const dirs: string[] = []
  const tempDb = () => {
    const dir = mkdtempSync(join(tmpdir(), 'medrec-db-'))
    dirs.push(dir)
    return join(dir, 'test.sqlite')
  }
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })))

  it('creates the schema at the latest version with WAL and foreign keys', () => {
    const db = openDatabase(tempDb())
    expect(schemaVersion(db)).toBe(migrations.at(-1)!.version)
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1)
    db.close()
  })

  it('re-opening applies nothing twice', () => {
    const path = tempDb()
    openDatabase(path).close()
    const db = openDatabase(path)
    expect(schemaVersion(db)).toBe(migrations.at(-1)!.version)
    db.close()
  })

  it('refuses a database from a newer app version', () => {
    const path = tempDb()
    const db = openDatabase(path)
    db.pragma('user_version = 999')
    db.close()
    expect(() => openDatabase(path)).toThrow(/newer than this app supports/)
  })

  it('rejects a visit of an unknown patient (foreign keys are enforced)', () => {
    const db = openDatabase(tempDb())
    expect(() =>
      db.prepare(`INSERT INTO visits (patient_id, source, source_visit_id, sort_key, order_label) VALUES (42, 'mimic-iv', '1', 'a', 'a')`).run()
    ).toThrow(/FOREIGN KEY/)
    db.close()
  })
})
