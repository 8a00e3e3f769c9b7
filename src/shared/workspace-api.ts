// The clinical workspace's part of the API contract (merged into ApiMethods in api.ts): models,
// settings, recommendation with DDI warnings, explanations, molecules, drug search, pharmacist review.
import type { ModelList } from './types'
import type {
  AcknowledgeRequest,
  AcknowledgeResult,
  ClassMolecules,
  DrugSearchHit,
  ExplainRequest,
  ExplanationView,
  ModelCard,
  RecommendRequest,
  ReviewCheck,
  ReviewCheckRequest,
  ReviewRecord,
  ReviewSubmission,
  WorkspaceRecommendation,
  WorkspaceSettings,
  WorkspaceSettingsPatch
} from './workspace-types'

export interface WorkspaceApiMethods {
  'models:list': { args: []; result: ModelList }
  /** null: the active model (else the first valid one). */
  'models:card': { args: [modelId: string | null]; result: ModelCard }
  'settings:get': { args: []; result: WorkspaceSettings }
  'settings:update': { args: [patch: WorkspaceSettingsPatch]; result: WorkspaceSettings }
  'recommend:run': { args: [request: RecommendRequest]; result: WorkspaceRecommendation }
  'recommend:acknowledge': { args: [request: AcknowledgeRequest]; result: AcknowledgeResult }
  'explain:drug': { args: [request: ExplainRequest]; result: ExplanationView }
  'drugs:molecules': { args: [query: { atc3: string; limit: number }]; result: ClassMolecules }
  'drugs:search': { args: [query: { text: string; limit: number }]; result: DrugSearchHit[] }
  'review:check': { args: [request: ReviewCheckRequest]; result: ReviewCheck }
  'review:submit': { args: [submission: ReviewSubmission]; result: ReviewRecord }
  'review:history': { args: [patientId: number]; result: ReviewRecord[] }
}

export const WORKSPACE_API_METHODS = [
  'models:list',
  'models:card',
  'settings:get',
  'settings:update',
  'recommend:run',
  'recommend:acknowledge',
  'explain:drug',
  'drugs:molecules',
  'drugs:search',
  'review:check',
  'review:submit',
  'review:history'
] as const satisfies ReadonlyArray<keyof WorkspaceApiMethods>
