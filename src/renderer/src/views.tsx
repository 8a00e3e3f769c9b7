// The app's top-level views, in navigation order. Later views (Models, Settings) slot in here;
// per-patient tools (Recommend, Review) go into PATIENT_TABS in views/patients/PatientDetail.tsx.
import type { ComponentType } from 'react'
import { ImportView } from './features/imports/ImportView'
import type { ViewId } from './navigation'
import { AboutView } from './features/about/AboutView'
import { ModelsView } from './features/models/ModelsView'
import { PatientsView } from './features/patients/PatientsView'
import { SettingsView } from './features/settings/SettingsView'

export interface AppView {
  id: ViewId
  label: string
  Component: ComponentType
}

export const APP_VIEWS: readonly AppView[] = [
  { id: 'patients', label: 'Patients', Component: PatientsView },
  { id: 'import', label: 'Import', Component: ImportView },
  { id: 'models', label: 'Models', Component: ModelsView },
  { id: 'settings', label: 'Settings', Component: SettingsView },
  { id: 'about', label: 'About', Component: AboutView }
]
