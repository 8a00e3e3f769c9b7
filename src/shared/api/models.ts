// models:* — the model registry's list (valid and refused models) and one model's card.
import { z } from 'zod'
import type { ModelCard, ModelList } from '../domain/manifest'
import { modelIdSchema } from './common'

export const modelsArgs = {
  'models:list': z.tuple([]),
  /** null: the active model (else the first valid one). */
  'models:card': z.tuple([modelIdSchema.nullable()])
}

export interface ModelsResults {
  'models:list': ModelList
  'models:card': ModelCard
}
