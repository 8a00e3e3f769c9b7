// What the recommendation and explanation services run on, assembled by open-services.ts (MedrecServices.context()).
import type { Db } from './db/database'
import type { DdiChecker } from './interactions/checker'
import type { ModelRegistry } from './models/registry'
import type { ColdStartModels } from './recommend/cold-start-models'
import type { DrugChoiceModel } from './recommend/drug-choice-model'

/** What the recommendation and explanation services run on. `ddi` is null until a knowledge base is loaded. */
export interface ServiceContext {
  db: Db
  registry: ModelRegistry
  ddi: DdiChecker | null
  /**
   * The within-class drug choice (loadDrugChoice: the model, or why it is unavailable); absent: models/drug-choice;
   * null: none on purpose (only drugs the patient takes or took are chosen).
   */
  drugChoice?: DrugChoiceModel | { unavailable: string } | null
  /** NLA-MMR cold-start graphs, loaded on first need and kept (cold-start-runner.ts); absent: loaded per call. */
  coldStart?: ColdStartModels
}
