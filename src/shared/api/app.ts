// app:info — what the app says about itself (version, database, data sources and licences).
import { z } from 'zod'
import type { AppInfo } from '../domain/app'

export const appArgs = {
  'app:info': z.tuple([])
}

export interface AppResults {
  'app:info': AppInfo
}
