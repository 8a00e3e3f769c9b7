// The database the e2e tests run against: the real demo (MIMIC-IV + eICU demos). resources/demo.sqlite
// when it has been built (and MEDREC_E2E_FRESH_DEMO is not set), otherwise built into a temp file
// with the importer.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase } from '../../src/main/services/db/database'
import { buildDemoDatabase } from '../../src/main/services/imports/index'
import { dataDir, resourcesDir } from '../../src/main/services/paths'

export interface TestDatabase {
  path: string
  kind: 'resources-demo' | 'built-demo'
  remove(): void
}

export async function testDatabase(): Promise<TestDatabase> {
  const shipped = join(resourcesDir(), 'demo.sqlite')
  if (existsSync(shipped) && !process.env.MEDREC_E2E_FRESH_DEMO) {
    // A demo built by an older checkout is migrated the way the app does on open, so read-only
    // opens in the tests see the current schema.
    openDatabase(shipped).close()
    return { path: shipped, kind: 'resources-demo', remove: () => {} }
  }
  const dir = mkdtempSync(join(tmpdir(), 'medrec-e2e-db-'))
  const path = join(dir, 'demo.sqlite')
  const remove = () => rmSync(dir, { recursive: true, force: true })
  try {
    await buildDemoDatabase(path, { dataDir: dataDir() })
  } catch (error) {
    remove()
    throw error
  }
  return { path, kind: 'built-demo', remove }
}
