// zod schemas for the workspace API methods' arguments (merged into apiArgSchemas in api-schemas.ts).
// Every argument is checked here before a service sees it; messages name the field that is wrong.
import { z } from 'zod'
import { THRESHOLD_RANGE } from './domain/thresholds'
import type { WorkspaceApiMethods } from './workspace-api'

const patientId = z.number().int().positive()
const modelId = z.string().trim().min(1).max(100).regex(/^[A-Za-z0-9._-]+$/, 'a model id is letters, digits, ".", "_" or "-"')
const threshold = z.number().gt(0, 'the threshold must lie strictly between 0 and 1').lt(1, 'the threshold must lie strictly between 0 and 1')
/** A saved override applies to every later recommendation: it must be a threshold a model could carry. */
const thresholdOverride = z
  .number()
  .min(THRESHOLD_RANGE.min, `a saved threshold override lies between ${THRESHOLD_RANGE.min} and ${THRESHOLD_RANGE.max}`)
  .max(THRESHOLD_RANGE.max, `a saved threshold override lies between ${THRESHOLD_RANGE.min} and ${THRESHOLD_RANGE.max}`)
const ddiRate = z.number().min(0).max(1)
const blockSeverity = z.enum(['Contraindicated', 'Major', 'Moderate', 'Minor'])
const atc3 = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^[A-Z]\d\d[A-Z]$/, 'an ATC level-3 class is a letter, two digits and a letter, e.g. N02B')
/** A drug as the pharmacist enters it: an ATC code or a name. */
const drugInput = z.string().trim().min(1, 'an empty drug was given').max(120)

const ddiSafeOptions = z.object({ blockSeverity, maxDdiRate: ddiRate.nullable() }).strict()

const overrideReason = z.enum(['will-monitor', 'will-adjust-dose', 'previously-tolerated', 'other'])

const decision = z
  .object({
    warningKey: z.string().min(1).max(300),
    action: z.enum(['accept', 'override']),
    reason: overrideReason.optional(),
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

const proposedList = z
  .array(drugInput)
  .min(1, 'propose at least one drug')
  .max(30, 'at most 30 proposed drugs per review')

export const workspaceArgSchemas = {
  'models:list': z.tuple([]),
  'models:card': z.tuple([modelId.nullable()]),
  'settings:get': z.tuple([]),
  'settings:update': z.tuple([
    z
      .object({
        activeModelId: modelId.nullable().optional(),
        providerPreference: z.enum(['auto', 'cpu', 'cuda', 'dml', 'coreml']).optional(),
        thresholdOverride: thresholdOverride.nullable().optional(),
        ddiSafe: z.object({ enabled: z.boolean(), blockSeverity, maxDdiRate: ddiRate.nullable() }).strict().optional(),
        // Shown beside the operating-system account in the audit log; changing it is audited.
        displayName: z.string().trim().min(1).max(100).nullable().optional()
      })
      .strict()
  ]),
  'recommend:run': z.tuple([
    z
      .object({
        patientId,
        modelId: modelId.nullable().optional(),
        threshold: threshold.nullable().optional(),
        ddiSafe: ddiSafeOptions.nullable().optional()
      })
      .strict()
  ]),
  'recommend:acknowledge': z.tuple([
    z
      .object({
        patientId,
        recommendationAuditId: z.number().int().positive(),
        combination: z.array(atc3).min(1, 'the combination is empty').max(200),
        drugs: z.array(z.string().regex(/^[A-Z]\d\d[A-Z]{2}\d\d$/, 'an ATC level-5 code such as B01AC06')).max(400),
        warningKeys: z.array(z.string().min(1).max(300)).min(1, 'name at least one warning to acknowledge').max(100)
      })
      .strict()
  ]),
  'explain:drug': z.tuple([
    z.object({ patientId, atc3, modelId: modelId.nullable().optional(), threshold: threshold.nullable().optional() }).strict()
  ]),
  'drugs:molecules': z.tuple([z.object({ atc3, limit: z.number().int().min(1).max(6) }).strict()]),
  'drugs:search': z.tuple([
    z.object({ text: z.string().trim().min(1, 'type at least one character').max(100), limit: z.number().int().min(1).max(50) }).strict()
  ]),
  'review:check': z.tuple([
    z.object({ patientId, proposed: proposedList, modelId: modelId.nullable().optional(), threshold: threshold.nullable().optional() }).strict()
  ]),
  'review:submit': z.tuple([
    z
      .object({
        patientId,
        proposed: proposedList,
        decisions: z
          .array(decision)
          .max(200)
          .refine((list) => new Set(list.map((d) => d.warningKey)).size === list.length, 'each warning may be decided once'),
        note: z.string().max(2000).optional(),
        modelId: modelId.nullable().optional(),
        threshold: threshold.nullable().optional()
      })
      .strict()
  ]),
  'review:history': z.tuple([patientId])
} satisfies Record<keyof WorkspaceApiMethods, z.ZodType>
