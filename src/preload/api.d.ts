// window.api as the renderer sees it (exposed by src/preload/index.ts).
import type { MedrecApi } from '../shared/api'

declare global {
  interface Window {
    readonly api: MedrecApi
  }
}

export {}
