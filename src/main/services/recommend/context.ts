// Opens what the recommendation and explanation services run on: the patient database, the model
// registry and, where the knowledge base has been built, the DDI checker. Used by the CLI and the app.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { openDatabase } from '../db/database'
import { DdiService } from '../interactions/ddi-service'
import { defaultKnowledgeBasePath } from '../drugs/knowledge-build'
import { atcName, openKnowledgeBase } from '../drugs/knowledge-base'
import { ModelRegistry } from '../models/registry'
import { defaultDatabasePath, modelsDir } from '../paths'
import { ColdStartModels } from './cold-start-runner'
import { ddiCheckerFromService } from '../interactions/checker'
import { loadDrugChoice } from './drug-choice-model'
import type { ServiceContext } from './prepare'

export interface OpenServicesOptions {
  databasePath?: string
  modelsDirectory?: string
  /** The DDI knowledge base; default resources/knowledge.sqlite ($MEDREC_KB). null: no DDI checks. */
  knowledgeBasePath?: string | null
  /** Fail when the knowledge base is absent (DDI-safe decoding asked for). */
  requireDdi?: boolean
}

export interface OpenedServices {
  ctx: ServiceContext
  databasePath: string
  close(): Promise<void>
}

export async function openServices(options: OpenServicesOptions = {}): Promise<OpenedServices> {
  const databasePath = options.databasePath ?? defaultDatabasePath()
  if (!existsSync(databasePath)) {
    throw new Error(`No patient database at ${databasePath}: import patients first (medrec import …) or give --db.`)
  }
  const kbPath = options.knowledgeBasePath === undefined ? defaultKnowledgeBasePath() : options.knowledgeBasePath
  if (options.requireDdi && (kbPath === null || !existsSync(kbPath))) {
    throw new Error(`DDI-safe decoding needs the drug interaction knowledge base, not found at ${kbPath ?? '(none given)'}: build it with "npm run knowledge".`)
  }
  const db = openDatabase(databasePath)
  const ddiService = kbPath !== null && existsSync(kbPath) ? DdiService.open(kbPath) : null
  const modelsDirectory = options.modelsDirectory ?? modelsDir()
  // Medication labels are checked against the knowledge base's ATC names when it is there (swapped labels refuse a model).
  const names = kbPath !== null && existsSync(kbPath) ? openKnowledgeBase(kbPath) : null
  const registry = new ModelRegistry(modelsDirectory, names ? { atcName: (code) => atcName(names, code) } : {})
  const coldStart = new ColdStartModels()
  // The within-class drug choice is the shared artefact beside the models (models/drug-choice).
  const drugChoice = loadDrugChoice(join(modelsDirectory, 'drug-choice'))
  return {
    ctx: { db, registry, ddi: ddiService ? ddiCheckerFromService(ddiService) : null, coldStart, drugChoice },
    databasePath,
    async close() {
      await coldStart.close()
      await registry.close()
      ddiService?.close()
      names?.close()
      db.close()
    }
  }
}
