// review:* — a pharmacist's review of a proposed prescription: the check, the decisions, the record.
import { z } from 'zod'
import { OVERRIDE_REASONS, type ReviewCheck, type ReviewRecord } from '../domain/review'
import { drugInputSchema, modelIdSchema, patientIdSchema, thresholdSchema } from './common'

export const warningDecisionSchema = z
  .object({
    warningKey: z.string().min(1).max(300),
    /** accept: follow the warning (the prescription will be changed); override: proceed, with a reason. */
    action: z.enum(['accept', 'override']),
    reason: z.enum(OVERRIDE_REASONS).optional(),
    reasonText: z.string().max(1000).optional()
  })
  .strict()
  .superRefine((value, context) => {
    if (value.action === 'override' && !value.reason) {
      context.addIssue({ code: 'custom', path: ['reason'], message: 'an override needs a reason (will-monitor, will-adjust-dose, previously-tolerated or other)' })
    }
    if (value.action === 'override' && value.reason === 'other' && !value.reasonText?.trim()) {
      context.addIssue({ code: 'custom', path: ['reasonText'], message: 'the reason "other" needs a written explanation' })
    }
    if (value.action === 'accept' && value.reason) {
      context.addIssue({ code: 'custom', path: ['reason'], message: 'accepting a warning takes no override reason' })
    }
  })
export type WarningDecision = z.infer<typeof warningDecisionSchema>

/** ATC level-5 codes, ATC3 classes or drug names. */
const proposedSchema = z.array(drugInputSchema).min(1, 'propose at least one drug').max(30, 'at most 30 proposed drugs per review')

export const reviewCheckRequestSchema = z
  .object({ patientId: patientIdSchema, proposed: proposedSchema, modelId: modelIdSchema.nullable().optional(), threshold: thresholdSchema.nullable().optional() })
  .strict()
export type ReviewCheckRequest = z.infer<typeof reviewCheckRequestSchema>

export const reviewSubmissionSchema = z
  .object({
    patientId: patientIdSchema,
    proposed: proposedSchema,
    decisions: z
      .array(warningDecisionSchema)
      .max(200)
      .refine((list) => new Set(list.map((d) => d.warningKey)).size === list.length, 'each warning may be decided once'),
    note: z.string().max(2000).optional(),
    modelId: modelIdSchema.nullable().optional(),
    threshold: thresholdSchema.nullable().optional()
  })
  .strict()
export type ReviewSubmission = z.infer<typeof reviewSubmissionSchema>

export const reviewArgs = {
  'review:check': z.tuple([reviewCheckRequestSchema]),
  'review:submit': z.tuple([reviewSubmissionSchema]),
  'review:history': z.tuple([patientIdSchema])
}

export interface ReviewResults {
  'review:check': ReviewCheck
  'review:submit': ReviewRecord
  'review:history': ReviewRecord[]
}
