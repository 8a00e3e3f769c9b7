// The app's top-level views, in navigation order. Later views (Models, Settings) slot in here;
// per-patient tools (Recommend, Review) go into PATIENT_TABS in views/patients/PatientDetail.tsx.
import type { ComponentType } from 'react'
import type { ViewId } from './navigation'
import { AboutView } from './views/about/AboutView'
import { PatientsView } from './views/patients/PatientsView'

export interface AppView {
  id: ViewId
  label: string
  Component: ComponentType
}

export const APP_VIEWS: readonly AppView[] = [
  { id: 'patients', label: 'Patients', Component: PatientsView },
  { id: 'about', label: 'About', Component: AboutView }
]
