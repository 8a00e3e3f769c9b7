// drugs:* — the pharmacist's drug picker and the molecule drawings of a class.
import { z } from 'zod'
import type { ClassMolecules, DrugSearchHit } from '../domain/drug'
import { atc3Schema } from './common'

export const drugsArgs = {
  'drugs:molecules': z.tuple([z.object({ atc3: atc3Schema, limit: z.number().int().min(1).max(6) }).strict()]),
  'drugs:search': z.tuple([z.object({ text: z.string().trim().min(1, 'type at least one character').max(100), limit: z.number().int().min(1).max(50) }).strict()])
}

export interface DrugsResults {
  'drugs:molecules': ClassMolecules
  'drugs:search': DrugSearchHit[]
}
