import { PatientDetail } from './PatientDetail'
import { PatientList } from './PatientList'

export function PatientsView() {
  return (
    <div className="patients-view">
      <PatientList />
      <PatientDetail />
    </div>
  )
}
