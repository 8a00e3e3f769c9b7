// What the workspace e2e tests run on: a writable copy of the demo database (settings and audit entries
// are written), a real trained model, the drug knowledge base, and axe-core for accessibility checks.
//
// The model: the one the app uses with no model chosen (models/DEFAULT, else the first valid model) in
// models/ (or $MEDREC_MODELS_DIR) when there is one; otherwise one exported by the training pipeline into
// test-artifacts/e2e-models/ (cached between runs) and signed with the TEST-ONLY key, with
//   python -m medrec_training.benchmark --models safedrug --folds 2 --max-epochs 3 --models-dir <dir>
// ($MEDREC_PYTHON or the project's .venv; about two minutes on two cores).
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { openDatabase } from '../../src/main/services/db/database'
import { buildKnowledgeBase } from '../../src/main/services/drugs/knowledge-build'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { dataDir, modelsDir, projectPython, projectRoot, defaultKnowledgeBasePath } from '../../src/main/services/paths'
import { signAsTest } from '../fixtures/keys/test-key'
import type { TestDatabase } from './demo-database'

export const E2E_MODELS_CACHE = join(projectRoot(), 'test-artifacts', 'e2e-models')
const EXPORTED_MODEL = 'safedrug'

/** The model the app runs from this folder when none is chosen, or null when it has none it can run. */
async function firstValidModel(directory: string): Promise<string | null> {
  if (!existsSync(directory)) return null
  const registry = new ModelRegistry(directory, { providers: ['cpu'] })
  try {
    return (await registry.resolve(null, null)).manifest.id
  } catch {
    return null
  } finally {
    await registry.close()
  }
}

export interface E2eModels {
  directory: string
  modelId: string
  origin: 'models' | 'cached-export' | 'fresh-export'
}

/** A folder holding at least one valid trained model, exporting one when none exists. */
export async function e2eModels(databasePath: string): Promise<E2eModels> {
  const shipped = modelsDir()
  const shippedModel = await firstValidModel(shipped)
  if (shippedModel) return { directory: shipped, modelId: shippedModel, origin: 'models' }
  const cached = await firstValidModel(E2E_MODELS_CACHE)
  if (cached) return { directory: E2E_MODELS_CACHE, modelId: cached, origin: 'cached-export' }

  mkdirSync(E2E_MODELS_CACHE, { recursive: true })
  const python = projectPython()
  const args = ['-m', 'medrec_training.benchmark', '--models', EXPORTED_MODEL, '--folds', '2', '--max-epochs', '3']
  args.push('--models-dir', E2E_MODELS_CACHE, '--database', databasePath, '--data-dir', dataDir())
  const run = spawnSync(python, args, { cwd: join(projectRoot(), 'training'), encoding: 'utf8', timeout: 15 * 60_000 })
  // The app runs signed folders only; tests trust the TEST-ONLY key (tests/setup-trusted-keys.ts).
  const folder = join(E2E_MODELS_CACHE, EXPORTED_MODEL)
  if (existsSync(join(folder, 'manifest.json'))) signAsTest(folder)
  const exported = await firstValidModel(E2E_MODELS_CACHE)
  if (!exported) {
    throw new Error(
      `No valid model in ${shipped}, and exporting one failed (${python} ${args.join(' ')} in training/, exit ${run.status}):\n` +
        `${(run.stderr || run.stdout || String(run.error ?? '')).slice(-2000)}\nExport a model into models/ or set MEDREC_PYTHON to a Python with the training requirements.`
    )
  }
  return { directory: E2E_MODELS_CACHE, modelId: exported, origin: 'fresh-export' }
}

/** A private, writable copy of the test database (the shipped demo stays untouched). */
export function writableCopy(database: TestDatabase): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-e2e-workspace-'))
  const path = join(dir, 'workspace.sqlite')
  copyFileSync(database.path, path)
  openDatabase(path).close() // brings the copy to the current schema version (migrations run on a writable open)
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The knowledge base built by `npm run knowledge`; on a fresh checkout it is built here the same way (~20 s). */
export function knowledgeBasePath(): string {
  const path = defaultKnowledgeBasePath()
  if (!existsSync(path)) buildKnowledgeBase(path, dataDir())
  return path
}

export interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: Array<{ target: string[]; failureSummary?: string }>
}

const axeSource = (() => {
  let source: string | null = null
  return () => {
    source ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
    return source
  }
})()

/**
 * Runs axe-core on the page and returns the serious and critical violations. The source is evaluated
 * through the DevTools protocol (page.evaluate), which the page's Content-Security-Policy does not
 * apply to, so the app's CSP stays as strict as it ships.
 */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  const loaded = await page.evaluate('typeof window.axe')
  if (loaded !== 'object') await page.evaluate(axeSource())
  const violations = (await page.evaluate(`
    window.axe.run(document, { resultTypes: ['violations'], runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
      .then((result) => result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target, failureSummary: n.failureSummary })) })))
  `)) as AxeViolation[]
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
}
