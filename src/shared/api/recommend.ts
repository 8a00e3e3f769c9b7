// recommend:* and explain:drug — a recommendation with its interaction warnings, acknowledging them, and why a
// drug was recommended.
import { z } from 'zod'
import type { ExplanationView } from '../domain/explanation'
import { BLOCK_SEVERITIES } from '../domain/interaction'
import type { AcknowledgeResult, RecommendationView } from '../domain/recommendation'
import { atc3Schema, ddiRateSchema, modelIdSchema, patientIdSchema, thresholdSchema } from './common'

export const recommendRequestSchema = z
  .object({
    patientId: patientIdSchema,
    modelId: modelIdSchema.nullable().optional(),
    /** null or absent: the model's threshold. */
    threshold: thresholdSchema.nullable().optional(),
    /**
     * Instead of a threshold: miss at most this share of the classes that will be prescribed, on average (the
     * model's conformal threshold for it, calibrated on its validation patients). null or absent: not used.
     */
    missRate: z.number().gt(0, 'a miss rate lies strictly between 0 and 1').lt(1, 'a miss rate lies strictly between 0 and 1').nullable().optional(),
    /** null: plain thresholded combination (its interactions are still checked and shown). */
    ddiSafe: z.object({ blockSeverity: z.enum(BLOCK_SEVERITIES), maxDdiRate: ddiRateSchema.nullable() }).strict().nullable().optional()
  })
  .strict()
  .refine((request) => request.missRate == null || request.threshold == null, {
    path: ['missRate'],
    message: 'give a threshold or a miss rate, not both'
  })
export type RecommendRequest = z.infer<typeof recommendRequestSchema>

export const acknowledgeRequestSchema = z
  .object({
    patientId: patientIdSchema,
    /** The audit entry of the recommendation being acknowledged: a recommendation of the same patient. */
    recommendationAuditId: z.number().int().positive(),
    /** The recommended ATC3 classes as shown. */
    combination: z.array(atc3Schema).min(1, 'the combination is empty').max(200),
    /** The recommended drugs (ATC5) as shown: the warnings are checked again between them and the current drugs. */
    drugs: z.array(z.string().regex(/^[A-Z]\d\d[A-Z]{2}\d\d$/, 'an ATC level-5 code such as B01AC06')).max(400),
    warningKeys: z.array(z.string().min(1).max(300)).min(1, 'name at least one warning to acknowledge').max(100)
  })
  .strict()
export type AcknowledgeRequest = z.infer<typeof acknowledgeRequestSchema>

export const explainRequestSchema = z
  .object({ patientId: patientIdSchema, atc3: atc3Schema, modelId: modelIdSchema.nullable().optional(), threshold: thresholdSchema.nullable().optional() })
  .strict()
export type ExplainRequest = z.infer<typeof explainRequestSchema>

export const recommendArgs = {
  'recommend:run': z.tuple([recommendRequestSchema]),
  'recommend:acknowledge': z.tuple([acknowledgeRequestSchema]),
  'explain:drug': z.tuple([explainRequestSchema])
}

export interface RecommendResults {
  'recommend:run': RecommendationView
  'recommend:acknowledge': AcknowledgeResult
  'explain:drug': ExplanationView
}
