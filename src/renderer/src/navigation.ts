// Which top-level view is shown. Views are listed in views.tsx; add an id here for a new one.
import { create } from 'zustand'

export type ViewId = 'patients' | 'import' | 'models' | 'settings' | 'about'

interface NavigationState {
  view: ViewId
  go(view: ViewId): void
}

export const useNavigation = create<NavigationState>((set) => ({
  view: 'patients',
  go: (view) => set({ view })
}))
