// Which workspace service answers which workspace API method (see src/shared/workspace-api.ts). The
// arguments arrive validated by the dispatcher.
import type { WorkspaceApiMethods } from '../../shared/workspace-api'
import { checkReview, reviewHistory, submitReview } from '../services/review/review'
import { getActiveModelId } from '../services/models/active-model'
import { RefusedError } from '../services/errors'
import { modelCard } from '../services/models/model-card'
import { acknowledgeWarnings, classMolecules, workspaceExplain, workspaceRecommend } from '../services/recommend/recommend-view'
import { getWorkspaceSettings, updateWorkspaceSettings } from '../services/settings/settings'
import type { MedrecServices } from '../services/open-services'
import type { ApiHandlers } from './dispatcher'

export function createWorkspaceHandlers(workspace: MedrecServices): Pick<ApiHandlers, keyof WorkspaceApiMethods> {
  const { db } = workspace
  return {
    'models:list': () => workspace.registry().list(getActiveModelId(db)),
    'models:card': (modelId) => modelCard(db, workspace.registry(), modelId),
    'settings:get': () => getWorkspaceSettings(db),
    'settings:update': (patch) => updateWorkspaceSettings(db, workspace.registry(), patch),
    'recommend:run': (request) => workspaceRecommend(workspace, request),
    'recommend:acknowledge': (request) => acknowledgeWarnings(workspace, request),
    'explain:drug': (request) => workspaceExplain(workspace, request),
    'drugs:molecules': (query) => classMolecules(workspace, query.atc3, query.limit),
    'drugs:search': (query) => {
      const knowledge = workspace.knowledge()
      if (!knowledge) throw new RefusedError(`Drug search needs the knowledge base: ${workspace.knowledgeUnavailable ?? ''}`)
      return knowledge.catalog.search(query.text, query.limit)
    },
    'review:check': (request) => checkReview(workspace, request),
    'review:submit': (submission) => submitReview(workspace, submission),
    'review:history': (patientId) => reviewHistory(db, patientId)
  }
}
