// Any medrec command that meets a database another process is writing to ends quickly with a clear,
// retryable message and exit 75, instead of SQLite's bare "database is locked" after seconds.
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { COMMANDS } from '../../src/cli/commands/index'
import { main } from '../../src/cli/main'
import { openDatabase } from '../../src/main/services/db/database'
import { TempSpace } from './import-helpers'

describe('medrec on a busy database', () => {
  const space = new TempSpace()
  afterEach(() => {
    vi.restoreAllMocks()
    delete COMMANDS['write-setting-for-test']
    space.cleanup()
  })

  it('a command whose write meets another writer exits 75 saying to try again; nothing is written', async () => {
    const path = join(space.dir(), 'busy.sqlite')
    openDatabase(path).close()
    // A command that writes a setting, as `models --activate` does.
    COMMANDS['write-setting-for-test'] = {
      summary: 'test only',
      load: async () => ({
      name: 'write-setting-for-test',
      summary: 'test only',
      usage: 'write-setting-for-test',
      async run() {
        const db = openDatabase(path)
        try {
          db.prepare(`INSERT INTO settings (key, value, updated_at) VALUES ('k', 'v', 'now')`).run()
          return 0
        } finally {
          db.close()
        }
      }
      })
    }
    const other = openDatabase(path)
    other.exec('BEGIN IMMEDIATE')
    const err: string[] = []
    vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void err.push(parts.join(' ')))
    try {
      expect(await main(['write-setting-for-test'])).toBe(75)
    } finally {
      other.exec('ROLLBACK')
      other.close()
    }
    expect(err.join('\n')).toMatch(/medrec write-setting-for-test: the patient database is busy .*nothing was changed\. Try again in a moment\./)
    const db = openDatabase(path)
    expect(db.prepare('SELECT count(*) FROM settings').pluck().get()).toBe(0)
    db.close()
  })
})
