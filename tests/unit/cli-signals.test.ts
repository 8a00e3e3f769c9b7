// bin/medrec.mjs re-runs itself with the bundled Node 22 when the system Node is older. Stopping the
// command (kill, Ctrl-C) must stop that child too, so an import that was stopped never commits.
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/main/services/db/database'
import { projectRoot } from '../../src/main/services/paths'
import { DATA_DIR, HAS_OPEN_DATA, MIMIC_IV_DEMO, TempSpace } from './import-helpers'

/** A Node older than 22 on PATH (outside node_modules), which makes bin/medrec.mjs start a child. */
function olderSystemNode(): string | null {
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    if (folder.includes('node_modules')) continue
    const candidate = join(folder, 'node')
    if (!existsSync(candidate)) continue
    const version = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()
    if (Number(version.split('.')[0]) < 22) return candidate
  }
  return null
}

const OLD_NODE = olderSystemNode()
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe.skipIf(!HAS_OPEN_DATA || OLD_NODE === null)(`medrec under an older system Node (${OLD_NODE ?? 'none found'})`, () => {
  const space = new TempSpace()
  afterEach(() => space.cleanup())

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to the wrapper reaches the Node 22 child: the import stops and nothing is committed`, async () => {
      const dir = space.dir()
      mkdirSync(join(dir, 'hosp'))
      for (const name of ['patients', 'admissions', 'diagnoses_icd', 'procedures_icd', 'prescriptions', 'd_icd_diagnoses', 'd_icd_procedures']) {
        copyFileSync(join(MIMIC_IV_DEMO, 'hosp', `${name}.csv.gz`), join(dir, 'hosp', `${name}.csv.gz`))
      }
      const dbPath = join(space.dir(), 'signals.sqlite')
      openDatabase(dbPath).close()
      const wrapper = spawn(OLD_NODE!, [join(projectRoot(), 'bin', 'medrec.mjs'), 'import', '--format', 'mimic-iv', dir, '--db', dbPath, '--data-dir', DATA_DIR], {
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let err = ''
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => wrapper.on('exit', (code, s) => resolve({ code, signal: s })))
      // Stop it once the child is importing (progress lines go to stderr, one per phase).
      await new Promise<void>((resolve, reject) => {
        wrapper.stderr.on('data', (chunk: Buffer) => {
          err += chunk.toString()
          if (/Importing admissions/.test(err)) resolve()
        })
        void exited.then(() => reject(new Error(`medrec ended before importing: ${err}`)))
      })
      const children = spawnSync('pgrep', ['-P', String(wrapper.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number)
      expect(children).toHaveLength(1)
      wrapper.kill(signal)
      const ended = await exited
      expect(ended.signal).toBe(signal)
      // The child got the signal: it is gone, not orphaned and still importing.
      for (let i = 0; i < 100 && alive(children[0]!); i++) await new Promise((r) => setTimeout(r, 20))
      expect(alive(children[0]!)).toBe(false)
      const db = openDatabase(dbPath)
      expect(db.prepare('SELECT count(*) FROM patients').pluck().get()).toBe(0)
      expect(db.prepare('SELECT count(*) FROM import_runs').pluck().get()).toBe(0)
      db.close()
    })
  }
})
