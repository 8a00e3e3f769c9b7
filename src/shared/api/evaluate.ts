// evaluate:* — `medrec evaluate` on the app's open database as a background job, and its progress.
import { z } from 'zod'
import type { EvaluationJobStatus } from '../domain/evaluation'

export const evaluateStartRequestSchema = z
  .object({
    /** Models to evaluate; empty: the active model. */
    modelIds: z.array(z.string().min(1).max(200)).max(50),
    since: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'write the date as YYYY-MM-DD')
      .nullable(),
    /** Bootstrap replicates (0: no intervals). */
    replicates: z.number().int().min(0).max(5000)
  })
  .strict()
export type EvaluateStartRequest = z.infer<typeof evaluateStartRequestSchema>

export const evaluateArgs = {
  'evaluate:start': z.tuple([evaluateStartRequestSchema]),
  'evaluate:status': z.tuple([z.string().min(1).max(100)])
}

export interface EvaluateResults {
  'evaluate:start': EvaluationJobStatus
  'evaluate:status': EvaluationJobStatus
}
