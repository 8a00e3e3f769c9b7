// models:* and settings:* — which service answers them. Arguments arrive validated by the dispatcher.
import { getActiveModelId } from '../../services/models/active-model'
import { modelCard } from '../../services/models/model-card'
import { getSettings, updateSettings } from '../../services/settings/settings'
import type { DomainHandlers, HandlerContext } from './types'

export function modelsHandlers({ db, services }: HandlerContext): DomainHandlers<'models:'> {
  return {
    'models:list': () => services.registry().list(getActiveModelId(db)),
    'models:card': (modelId) => modelCard(db, services.registry(), modelId)
  }
}

export function settingsHandlers({ db, services }: HandlerContext): DomainHandlers<'settings:'> {
  return {
    'settings:get': () => getSettings(db),
    'settings:update': (patch) => updateSettings(db, services.registry(), patch)
  }
}
