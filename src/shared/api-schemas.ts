// zod schemas for every API method's arguments: ipc.ts and the e2e test host validate with these
// before any service runs.
import { z } from 'zod'
import type { ApiMethod } from './api'
import { evaluateArgSchemas } from './evaluate-api-schemas'
import { workspaceArgSchemas } from './workspace-api-schemas'
import { cdsHooksArgSchemas } from './api/cds-hooks'
import { importsArgSchemas } from './api/imports'

export const apiArgSchemas = {
  'app:info': z.tuple([]),
  'patients:list': z.tuple([
    z.object({
      search: z.string().max(200).optional(),
      offset: z.number().int().min(0),
      limit: z.number().int().min(1).max(500)
    }).strict()
  ]),
  'patients:timeline': z.tuple([z.number().int().positive()]),
  'interop:fhir-export': z.tuple([z.object({ patientId: z.number().int().positive(), includeReview: z.boolean().optional() }).strict()]),
  ...workspaceArgSchemas,
  ...evaluateArgSchemas,
  ...importsArgSchemas,
  ...cdsHooksArgSchemas
} satisfies Record<ApiMethod, z.ZodType>
