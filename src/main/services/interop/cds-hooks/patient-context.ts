// What a hook call knows about the patient: active medications, conditions and allergies, read from the
// request's prefetch where the EHR sent it, else from MedRec's own patient store (the patient imported
// from the same EHR's FHIR export, matched by its FHIR id). MedRec never calls back to the EHR's FHIR
// server: it runs offline.
import type { Db } from '../../db/database'
import type { DrugInput } from '../../imports/store'
import { fhirDrugInput } from '../../imports/fhir/drug-mapping'
import { conceptText, isObject, preferredCode, type Json } from '../../imports/fhir/resources'

export const ATC_SYSTEM = 'http://www.whocc.no/atc'

export interface MedicationItem {
  /** "MedicationRequest/<id>" for a FHIR resource; null for a row of the local store. */
  resourceRef: string | null
  label: string
  /** The drug as the importers map it (name, NDC, RxNorm), null when the resource names none. */
  drug: DrugInput | null
  /** An ATC code the resource or the store already gives. */
  atc: string | null
}

export interface PatientPicture {
  patientId: string
  /** Where each part came from. */
  from: Record<'medications' | 'conditions' | 'allergies', 'prefetch' | 'store' | 'none'>
  medications: MedicationItem[]
  conditions: Array<{ system: string; code: string; title: string | null }>
  allergies: Array<{ title: string; code: string | null; category: string | null }>
}

/** The resources of one prefetch value: a searchset Bundle's entries or a single resource, of `type`. */
function prefetched(value: unknown, type: string): Json[] | null {
  if (!isObject(value)) return null
  if (value.resourceType === 'Bundle') {
    const entries = Array.isArray(value.entry) ? value.entry : []
    return entries.map((e) => (isObject(e) && isObject(e.resource) ? e.resource : null)).filter((r): r is Json => r !== null && r.resourceType === type)
  }
  return value.resourceType === type ? [value] : []
}

function atcOf(concept: unknown): string | null {
  if (!isObject(concept) || !Array.isArray(concept.coding)) return null
  for (const c of concept.coding) if (isObject(c) && c.system === ATC_SYSTEM && typeof c.code === 'string') return c.code.toUpperCase()
  return null
}

/** A MedicationRequest (or Statement) resource as a medication item; contained Medications are followed. */
export function medicationItem(resource: Json): MedicationItem {
  let concept: unknown = resource.medicationCodeableConcept
  if (concept === undefined && isObject(resource.medicationReference) && typeof resource.medicationReference.reference === 'string') {
    const ref = resource.medicationReference.reference
    const contained = Array.isArray(resource.contained) ? resource.contained.find((c) => isObject(c) && `#${String(c.id)}` === ref) : undefined
    concept = isObject(contained) ? contained.code : undefined
    if (concept === undefined && typeof resource.medicationReference.display === 'string') concept = { text: resource.medicationReference.display }
  }
  const drug = fhirDrugInput(concept)
  const id = typeof resource.id === 'string' ? resource.id : null
  return {
    resourceRef: id ? `${String(resource.resourceType)}/${id}` : null,
    label: drug?.rawName ?? conceptText(concept) ?? 'unnamed medication',
    drug,
    atc: atcOf(concept)
  }
}

const INACTIVE = new Set(['stopped', 'completed', 'cancelled', 'entered-in-error', 'revoked'])

export class PatientPictures {
  private readonly patientRow
  private readonly latestMedications
  private readonly latestConditions
  private readonly allergyRows

  constructor(db: Db) {
    this.patientRow = db.prepare(`SELECT id FROM patients WHERE source_patient_id = ? ORDER BY source = 'fhir' DESC, id LIMIT 1`).pluck()
    // "Active" in the store: the medications of the latest visit that has any (as the app's current list).
    this.latestMedications = db.prepare(
      `SELECT m.raw_name, m.ndc, m.other_id, coalesce(m.atc5, m.atc3) AS atc FROM medications m
       WHERE m.visit_id = (SELECT v.id FROM visits v WHERE v.patient_id = ? AND EXISTS (SELECT 1 FROM medications x WHERE x.visit_id = v.id)
                           ORDER BY v.sort_key DESC LIMIT 1) ORDER BY m.id`
    )
    this.latestConditions = db.prepare(
      `SELECT d.code_system AS system, d.code, t.title FROM diagnoses d LEFT JOIN code_titles t ON t.kind = 'diagnosis' AND t.code_system = d.code_system AND t.code = d.code
       WHERE d.visit_id = (SELECT v.id FROM visits v WHERE v.patient_id = ? AND EXISTS (SELECT 1 FROM diagnoses x WHERE x.visit_id = v.id) ORDER BY v.sort_key DESC LIMIT 1)
       ORDER BY d.seq`
    )
    this.allergyRows = db.prepare(`SELECT title, code, category FROM allergies WHERE patient_id = ? AND coalesce(clinical_status, 'active') = 'active' ORDER BY id`)
  }

  picture(patientId: string, prefetch: Record<string, unknown> | undefined): PatientPicture {
    const storedId = () => this.patientRow.get(patientId) as number | undefined
    let stored: number | undefined | null = null // null: not looked up yet
    const store = (): number | undefined => (stored === null ? (stored = storedId()) : stored)
    const picture: PatientPicture = { patientId, from: { medications: 'none', conditions: 'none', allergies: 'none' }, medications: [], conditions: [], allergies: [] }

    const meds = prefetched(prefetch?.medications, 'MedicationRequest')
    if (meds) {
      picture.from.medications = 'prefetch'
      picture.medications = meds.filter((r) => !INACTIVE.has(String(r.status))).map(medicationItem)
    } else if (store() !== undefined) {
      picture.from.medications = 'store'
      picture.medications = (this.latestMedications.all(store()) as Array<{ raw_name: string; ndc: string | null; other_id: string | null; atc: string | null }>).map((row) => ({
        resourceRef: null,
        label: row.raw_name,
        drug: { rawName: row.raw_name, ndc: row.ndc, gsn: null, otherId: row.other_id },
        atc: row.atc
      }))
    }
    const conditions = prefetched(prefetch?.conditions, 'Condition')
    if (conditions) {
      picture.from.conditions = 'prefetch'
      picture.conditions = conditions.map((r) => preferredCode(r.code)).filter((c): c is NonNullable<typeof c> => c !== null)
    } else if (store() !== undefined) {
      picture.from.conditions = 'store'
      picture.conditions = this.latestConditions.all(store()) as PatientPicture['conditions']
    }
    const allergies = prefetched(prefetch?.allergies, 'AllergyIntolerance')
    if (allergies) {
      picture.from.allergies = 'prefetch'
      picture.allergies = allergies.map((r) => ({
        title: conceptText(r.code) ?? 'allergy',
        code: preferredCode(r.code)?.code ?? null,
        category: Array.isArray(r.category) ? r.category.join(',') : null
      }))
    } else if (store() !== undefined) {
      picture.from.allergies = 'store'
      picture.allergies = this.allergyRows.all(store()) as PatientPicture['allergies']
    }
    return picture
  }
}
