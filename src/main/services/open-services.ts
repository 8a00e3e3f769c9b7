// The ONE place that assembles the services: the app (main/index.ts), the CLI, the e2e test host, the CDS Hooks
// server and the benches all open them here, so a model runs on the same registry, provider preference, knowledge
// base, drug resolver (with the database's local overrides) and drug choice whichever door a request came in by.
// Everything is opened lazily on first use and released by close().
import type { ProviderPreference } from '../../shared/domain/settings'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { type Db, openDatabase } from './db/database'
import { DrugCatalog } from './drugs/catalog'
import { atcName, type KnowledgeDb, openKnowledgeBase } from './drugs/knowledge-base'
import { createDrugResolver } from './drugs/load'
import { applyOverrides } from './drugs/overrides'
import type { DrugResolver } from './drugs/resolver'
import type { ProviderName } from './inference/providers'
import { ddiCheckerFromService } from './interactions/checker'
import { DdiService } from './interactions/ddi-service'
import { ModelRegistry, type RegistryOptions } from './models/registry'
import { dataDir, defaultDatabasePath, defaultKnowledgeBasePath, modelsDir } from './paths'
import { ColdStartModels } from './recommend/cold-start-models'
import { type DrugChoiceModel, loadDrugChoice } from './recommend/drug-choice-model'
import type { ServiceContext } from './service-context'
import { getSettings } from './settings/settings'

export interface ServicesOptions {
  /** Default: $MEDREC_MODELS_DIR or models/. */
  modelsDirectory?: string
  /** Default: resources/knowledge.sqlite ($MEDREC_KB); null: run without DDI checks. */
  knowledgeBasePath?: string | null
  /** The open data folder the drug resolver reads (WHO ATC index, mapping tables); default ../shared/data ($MEDREC_DATA_DIR). */
  dataDirectory?: string
  /** Execution providers to use whatever the saved preference says (benches pin the CPU); default: the saved preference. */
  providers?: readonly ProviderName[]
}

export interface Knowledge {
  ddi: DdiService
  catalog: DrugCatalog
  kb: KnowledgeDb
}

/**
 * A model registry over `modelsDirectory`. With a knowledge base, medication labels are checked against its ATC
 * names (labels swapped between classes refuse a model). The one way to build a registry outside MedrecServices
 * (`medrec models`, benches over fixture folders); close() it when done.
 */
export function openModelRegistry(options: ServicesOptions & { atcName?: RegistryOptions['atcName'] } = {}): { registry: ModelRegistry; close(): Promise<void> } {
  let names: KnowledgeDb | null = null
  let lookup = options.atcName
  if (!lookup) {
    const kbPath = options.knowledgeBasePath === undefined ? defaultKnowledgeBasePath() : options.knowledgeBasePath
    names = kbPath !== null && existsSync(kbPath) ? openKnowledgeBase(kbPath) : null
    if (names) lookup = (code) => atcName(names!, code)
  }
  const registry = new ModelRegistry(options.modelsDirectory ?? modelsDir(), {
    ...(options.providers ? { providers: options.providers } : {}),
    ...(lookup ? { atcName: lookup } : {})
  })
  return {
    registry,
    async close() {
      await registry.close()
      names?.close()
    }
  }
}

export class MedrecServices {
  private registryInstance: ModelRegistry | null = null
  private registryPreference: ProviderPreference | null = null
  private knowledgeInstance: Knowledge | null = null
  private knowledgeError: string | null = null
  private knowledgeTried = false
  private resolverInstance: DrugResolver | null = null
  /** NLA-MMR cold-start graphs of the current registry's models, loaded on first need. */
  private coldStartModels = new ColdStartModels()

  constructor(
    readonly db: Db,
    private readonly options: ServicesOptions = {},
    /** Whether close() also closes the database (openServices opened it). */
    private readonly ownsDatabase = false
  ) {}

  get modelsDirectory(): string {
    return this.options.modelsDirectory ?? modelsDir()
  }

  get knowledgeBasePath(): string | null {
    return this.options.knowledgeBasePath === undefined ? defaultKnowledgeBasePath() : this.options.knowledgeBasePath
  }

  /** The registry for the saved provider preference; a changed preference releases the old sessions. */
  registry(): ModelRegistry {
    const preference = this.options.providers ? 'auto' : getSettings(this.db).providerPreference
    if (!this.registryInstance || this.registryPreference !== preference) {
      const previous = this.registryInstance
      const providers = this.options.providers ?? (preference === 'auto' ? undefined : [preference])
      this.registryInstance = new ModelRegistry(this.modelsDirectory, {
        ...(providers ? { providers } : {}),
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
    const path = this.knowledgeBasePath
    if (path === null) {
      this.knowledgeError = 'No drug interaction knowledge base is configured: interactions are not checked.'
    } else if (!existsSync(path)) {
      this.knowledgeError = `No drug interaction knowledge base at ${path}: interactions are not checked. Build it with "npm run knowledge".`
    } else {
      try {
        const kb = openKnowledgeBase(path)
        this.knowledgeInstance = { ddi: DdiService.open(path), catalog: new DrugCatalog(kb), kb }
        const resolver = this.drugResolver()
        if (resolver) {
          this.knowledgeInstance.ddi.useResolver(resolver)
          this.knowledgeInstance.catalog.useResolver(resolver)
        }
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

  /**
   * The one drug resolver, with this database's local overrides; null without the open data folder (WHO index),
   * where names beyond the knowledge base's stay unknown (reported as such).
   */
  drugResolver(): DrugResolver | null {
    if (this.resolverInstance) return this.resolverInstance
    const kbPath = this.knowledgeBasePath
    try {
      const resolver = createDrugResolver({ dataDir: this.options.dataDirectory ?? dataDir(), kbPath: kbPath !== null && existsSync(kbPath) ? kbPath : null })
      applyOverrides(resolver, this.db)
      this.resolverInstance = resolver
    } catch {
      return null
    }
    return this.resolverInstance
  }

  /** The within-class drug choice shared by every model, beside them (models/drug-choice; loaded once per process). */
  drugChoice(): DrugChoiceModel | { unavailable: string } {
    return loadDrugChoice(join(this.modelsDirectory, 'drug-choice'))
  }

  /** What the recommendation and explanation services take. */
  context(): ServiceContext {
    const knowledge = this.knowledge()
    return {
      db: this.db,
      registry: this.registry(),
      ddi: knowledge ? ddiCheckerFromService(knowledge.ddi) : null,
      coldStart: this.coldStartModels,
      drugChoice: this.drugChoice()
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
    this.resolverInstance = null
    if (this.ownsDatabase) this.db.close()
  }
}

export interface OpenServicesOptions extends ServicesOptions {
  /** Default: resources/demo.sqlite ($MEDREC_DB). */
  databasePath?: string
  /** Open the patient database read-only (evaluation never changes it). */
  readonly?: boolean
  /** Fail when the knowledge base is absent (DDI-safe decoding asked for). */
  requireDdi?: boolean
}

export interface OpenedServices {
  services: MedrecServices
  /** What the recommendation and explanation services take (services.context()). */
  ctx: ServiceContext
  databasePath: string
  close(): Promise<void>
}

/** Opens the patient database at `databasePath` and the services over it; close() releases both. */
export async function openServices(options: OpenServicesOptions = {}): Promise<OpenedServices> {
  const databasePath = options.databasePath ?? defaultDatabasePath()
  if (!existsSync(databasePath)) {
    throw new Error(`No patient database at ${databasePath}: import patients first (medrec import …) or give --db.`)
  }
  const kbPath = options.knowledgeBasePath === undefined ? defaultKnowledgeBasePath() : options.knowledgeBasePath
  if (options.requireDdi && (kbPath === null || !existsSync(kbPath))) {
    throw new Error(`DDI-safe decoding needs the drug interaction knowledge base, not found at ${kbPath ?? '(none given)'}: build it with "npm run knowledge".`)
  }
  const db = openDatabase(databasePath, options.readonly ? { readonly: true } : {})
  const services = new MedrecServices(db, options, true)
  return { services, ctx: services.context(), databasePath, close: () => services.close() }
}
