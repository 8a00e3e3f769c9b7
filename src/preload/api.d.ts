import type { MedrecApi } from '../shared/api'
// window.api as the renderer sees it (exposed by src/preload/index.ts).

declare global {
  interface Window {
    readonly api: MedrecApi
  }
}

export {}
