// The database the e2e tests run against: resources/demo.sqlite when it has been built, otherwise
// the real demo (MIMIC-IV + eICU) built into a temp file with the importer, otherwise — only while
// the importer does not exist yet — the SQL fixture.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dataDir, resourcesDir } from '../../src/main/services/paths'
import { createFixtureDatabase } from './fixture-database'

export interface TestDatabase {
  path: string
  kind: 'resources-demo' | 'built-demo' | 'fixture'
  remove(): void
}

type BuildDemoDatabase = (path: string, options?: { dataDir?: string }) => Promise<unknown>

async function loadDemoBuilder(): Promise<BuildDemoDatabase | null> {
  const modulePath = '../../src/main/services/importers/index'
  try {
    const module = (await import(/* @vite-ignore */ modulePath)) as { buildDemoDatabase?: BuildDemoDatabase }
    return module.buildDemoDatabase ?? null
  } catch {
    return null
  }
}

export async function testDatabase(): Promise<TestDatabase> {
  const shipped = join(resourcesDir(), 'demo.sqlite')
  if (existsSync(shipped)) return { path: shipped, kind: 'resources-demo', remove: () => {} }
  const dir = mkdtempSync(join(tmpdir(), 'medrec-e2e-db-'))
  const path = join(dir, 'demo.sqlite')
  const remove = () => rmSync(dir, { recursive: true, force: true })
  const buildDemoDatabase = await loadDemoBuilder()
  if (buildDemoDatabase) {
    await buildDemoDatabase(path, { dataDir: dataDir() })
    return { path, kind: 'built-demo', remove }
  }
  console.warn('[e2e] No resources/demo.sqlite and no demo importer yet: running against the SQL fixture database.')
  createFixtureDatabase(path)
  return { path, kind: 'fixture', remove }
}
