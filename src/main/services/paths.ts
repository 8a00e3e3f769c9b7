import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

let foundRoot: string | null = null

/**
 * The repository (or installed app) root: the folder holding package.json above this file. Found once per
 * process (the files do not move while it runs; every recommendation asks, through the default folders).
 */
export function projectRoot(): string {
  if (foundRoot !== null) return foundRoot
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('Cannot find the MedRec project root (no package.json above the services).')
    dir = parent
  }
  foundRoot = dir
  return dir
}

/** The open data folder (../shared/data beside the checkout unless MEDREC_DATA_DIR says otherwise). */
export function dataDir(): string {
  return resolve(process.env.MEDREC_DATA_DIR ?? join(projectRoot(), '..', 'shared', 'data'))
}

/** The patient database used by the CLI and the app unless a path is given. */
export function defaultDatabasePath(): string {
  return resolve(process.env.MEDREC_DB ?? join(projectRoot(), 'resources', 'demo.sqlite'))
}

export function resourcesDir(): string {
  return join(projectRoot(), 'resources')
}

export function modelsDir(): string {
  return resolve(process.env.MEDREC_MODELS_DIR ?? join(projectRoot(), 'models'))
}

/**
 * The Python that runs the training package: $MEDREC_PYTHON, else the project's own virtual environment that
 * `npm run setup` fills from training/requirements.txt, else python3 on PATH.
 */
export function projectPython(): string {
  if (process.env.MEDREC_PYTHON) return process.env.MEDREC_PYTHON
  const venvPython = join(projectRoot(), '.venv', 'bin', 'python')
  return existsSync(venvPython) ? venvPython : 'python3'
}

/** Where the app and the CLI look for the knowledge base unless told otherwise. */
export function defaultKnowledgeBasePath(): string {
  return resolve(process.env.MEDREC_KB ?? join(projectRoot(), 'resources', 'knowledge.sqlite'))
}

export function defaultCuratedTablePath(): string {
  return join(projectRoot(), 'resources', 'curated-ddi.csv')
}

export function defaultDrugChoiceDirectory(): string {
  return join(modelsDir(), 'drug-choice')
}

/**
 * Where Electron keeps the app's user data: app.getPath('userData'), <appData>/<package name>. The app sets
 * MEDREC_USER_DATA to it; the CLI, without Electron, computes the same folder.
 */
export function defaultUserDataDir(): string {
  const name = 'medrec-desktop'
  if (process.platform === 'win32') return join(process.env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), name)
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', name)
  return join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), name)
}

/** The schema ships with the app in models/, whatever folder the models themselves are read from. */
export function manifestSchemaPath(): string {
  return join(projectRoot(), 'models', 'manifest.schema.json')
}
