// What the clinical workspace runs on, opened lazily on first use: the model registry (rebuilt when the
// provider preference changes), the DDI service and a drug catalogue over the knowledge base. One per
// patient database; the app, the e2e test host and the tests create it the same way.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Db } from './db/database'
import { DdiService } from './interactions/ddi-service'
import { createDrugResolver } from './drugs/load'
import { applyOverrides } from './drugs/overrides'
import { defaultKnowledgeBasePath } from './drugs/knowledge-build'
import { openKnowledgeBase, type KnowledgeDb } from './drugs/knowledge-base'
import { ModelRegistry } from './models/registry'
import { dataDir, modelsDir } from './paths'
import { ColdStartModels } from './recommend/cold-start-runner'
import { ddiCheckerFromService } from './interactions/checker'
import { loadDrugChoice } from './recommend/drug-choice-model'
import type { ServiceContext } from './recommend/prepare'
import type { ProviderPreference } from '../../shared/workspace-types'
import { DrugCatalog } from './drugs/catalog'
import { getWorkspaceSettings } from './settings/settings'

export interface WorkspaceOptions {
  /** Default: $MEDREC_MODELS_DIR or models/. */
  modelsDirectory?: string
  /** Default: resources/knowledge.sqlite ($MEDREC_KB); null: run without DDI checks. */
  knowledgeBasePath?: string | null
}

export interface Knowledge {
  ddi: DdiService
  catalog: DrugCatalog
  kb: KnowledgeDb
}

export class WorkspaceServices {
  private registryInstance: ModelRegistry | null = null
  private registryPreference: ProviderPreference | null = null
  private knowledgeInstance: Knowledge | null = null
  private knowledgeError: string | null = null
  private knowledgeTried = false
  /** NLA-MMR cold-start graphs of the current registry's models, loaded on first need. */
  private coldStartModels = new ColdStartModels()

  constructor(
    readonly db: Db,
    private readonly options: WorkspaceOptions = {}
  ) {}

  get modelsDirectory(): string {
    return this.options.modelsDirectory ?? modelsDir()
  }

  /** The registry for the saved provider preference; a changed preference releases the old sessions. */
  registry(): ModelRegistry {
    const preference = getWorkspaceSettings(this.db).providerPreference
    if (!this.registryInstance || this.registryPreference !== preference) {
      const previous = this.registryInstance
      this.registryInstance = new ModelRegistry(this.modelsDirectory, {
        ...(preference === 'auto' ? {} : { providers: [preference] }),
        // Medication labels are checked against the knowledge base's ATC names (swapped labels refuse a model).
        atcName: (code) => this.knowledge()?.catalog.name(code) ?? null
      })
      this.registryPreference = preference
      void previous?.close()
      void this.coldStartModels.close()
      this.coldStartModels = new ColdStartModels()
    }
    return this.registryInstance
  }

  /** The knowledge base services, or null (see knowledgeUnavailable for why). */
  knowledge(): Knowledge | null {
    if (this.knowledgeTried) return this.knowledgeInstance
    this.knowledgeTried = true
    const path = this.options.knowledgeBasePath === undefined ? defaultKnowledgeBasePath() : this.options.knowledgeBasePath
    if (path === null) {
      this.knowledgeError = 'No drug interaction knowledge base is configured: interactions are not checked.'
    } else if (!existsSync(path)) {
      this.knowledgeError = `No drug interaction knowledge base at ${path}: interactions are not checked. Build it with "npm run knowledge".`
    } else {
      try {
        const kb = openKnowledgeBase(path)
        this.knowledgeInstance = { ddi: DdiService.open(path), catalog: new DrugCatalog(kb), kb }
        attachDrugResolver(this.knowledgeInstance, path, this.db)
      } catch (error) {
        this.knowledgeError = `The drug interaction knowledge base could not be opened: ${error instanceof Error ? error.message : String(error)}`
      }
    }
    return this.knowledgeInstance
  }

  get knowledgeUnavailable(): string | null {
    this.knowledge()
    return this.knowledgeError
  }

  /** What the recommendation and explanation services take. */
  context(): ServiceContext {
    const knowledge = this.knowledge()
    return {
      db: this.db,
      registry: this.registry(),
      ddi: knowledge ? ddiCheckerFromService(knowledge.ddi) : null,
      coldStart: this.coldStartModels,
      // The within-class drug choice shared by every model, beside them (models/drug-choice).
      drugChoice: loadDrugChoice(join(this.modelsDirectory, 'drug-choice'))
    }
  }

  async close(): Promise<void> {
    await this.coldStartModels.close()
    await this.registryInstance?.close()
    this.registryInstance = null
    this.knowledgeInstance?.ddi.close()
    this.knowledgeInstance?.kb.close()
    this.knowledgeInstance = null
    this.knowledgeTried = false
  }
}

/**
 * The drug picker and the checks read names through the one drug resolver, with this database's local
 * overrides. Without the open data folder (WHO index) they keep the knowledge base's own names only.
 */
function attachDrugResolver(knowledge: Knowledge, kbPath: string, db: Db): void {
  try {
    const resolver = createDrugResolver({ dataDir: dataDir(), kbPath })
    applyOverrides(resolver, db)
    knowledge.ddi.useResolver(resolver)
    knowledge.catalog.useResolver(resolver)
  } catch {
    // No WHO index at MEDREC_DATA_DIR: names beyond the knowledge base's stay unknown (reported as such).
  }
}
