// The CDS Hooks 2.0 service over real HTTP on 127.0.0.1: discovery, each hook with and without
// prefetch, cards checked against the specification's shapes, JWT bearer authentication accepted and
// refused, and feedback written to the audit log.
import { defaultKnowledgeBasePath } from '../../src/main/services/paths'
import { randomUUID } from 'node:crypto'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { openDatabase } from '../../src/main/services/db/database'
import { importFhir } from '../../src/main/services/imports/fhir'
import { openCdsService, type OpenedCdsService } from '../../src/main/services/interop/cds-hooks'
import { DATA_DIR, HAS_OPEN_DATA, TempSpace } from './import-helpers'

// CDS Hooks 2.0 response shapes (https://cds-hooks.hl7.org/2.0/#cds-service-response), strict where the spec is.
const coding = z.object({ code: z.string().min(1), system: z.string().min(1), display: z.string().optional() }).strict()
const action = z
  .object({ type: z.enum(['create', 'update', 'delete']), description: z.string().min(1), resource: z.record(z.string(), z.unknown()).optional(), resourceId: z.array(z.string()).optional() })
  .strict()
  .refine((a) => (a.type === 'delete' ? a.resourceId !== undefined : a.resource !== undefined), 'create/update carry a resource, delete a resourceId')
const card = z
  .object({
    uuid: z.string().uuid(),
    summary: z.string().min(1).max(139),
    detail: z.string().optional(),
    indicator: z.enum(['info', 'warning', 'critical']),
    source: z.object({ label: z.string().min(1), url: z.string().url().optional(), icon: z.string().optional(), topic: coding.optional() }).strict(),
    suggestions: z.array(z.object({ label: z.string().min(1), uuid: z.string().uuid().optional(), isRecommended: z.boolean().optional(), actions: z.array(action).optional() }).strict()).optional(),
    selectionBehavior: z.enum(['at-most-one', 'any']).optional(),
    overrideReasons: z.array(coding).optional(),
    links: z.array(z.unknown()).optional()
  })
  .strict()
  .refine((c) => !c.suggestions || c.selectionBehavior !== undefined, 'selectionBehavior is required with suggestions')
const response = z.object({ cards: z.array(card), systemActions: z.array(action).optional() }).strict()
const discovery = z.object({
  services: z.array(z.object({ hook: z.string(), id: z.string(), title: z.string().optional(), description: z.string(), prefetch: z.record(z.string(), z.string()).optional() }).strict())
})

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

const READY = HAS_OPEN_DATA && existsSync(defaultKnowledgeBasePath())
const ISSUER = 'https://ehr.example.org'
const space = new TempSpace()
let service: OpenedCdsService
let base: string
let privateKey: SigningKey
let strangerKey: SigningKey
let dbPath: string

const rx = (code: string, display: string) => ({ coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code, display }], text: display })
const WARFARIN = rx('855332', 'Warfarin Sodium 5 MG Oral Tablet')
const IBUPROFEN = rx('197806', 'Ibuprofen 400 MG Oral Tablet')
const PARACETAMOL = rx('313782', 'Acetaminophen 325 MG Oral Tablet')
const PENICILLIN = rx('834102', 'Penicillin V Potassium 250 MG Oral Tablet')
const request = (id: string, patientId: string, concept: unknown, status = 'draft') => ({ resourceType: 'MedicationRequest', id, status, intent: 'order', subject: { reference: `Patient/${patientId}` }, medicationCodeableConcept: concept })
const searchset = (resources: unknown[]) => ({ resourceType: 'Bundle', type: 'searchset', entry: resources.map((resource) => ({ resource })) })

async function token(claims: { aud?: string; iss?: string; exp?: string | number; jti?: string; key?: SigningKey; kid?: string } = {}, path = ''): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', typ: 'JWT', kid: claims.kid ?? 'ehr-key-1' })
    .setIssuer(claims.iss ?? ISSUER)
    .setSubject('ehr-client-42')
    .setAudience(claims.aud ?? `${base}${path}`)
    .setIssuedAt()
    .setExpirationTime(claims.exp ?? '5m')
    .setJti(claims.jti ?? randomUUID())
    .sign(claims.key ?? privateKey)
}

async function call(path: string, body: unknown, auth: string | null | 'default' = 'default'): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (auth === 'default') headers.authorization = `Bearer ${await token({}, path)}`
  else if (auth !== null) headers.authorization = auth
  const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })
  return { status: res.status, json: (await res.json()) as Record<string, unknown> }
}

const hookCall = (hook: string, context: Record<string, unknown>, prefetch?: Record<string, unknown>) => ({ hook, hookInstance: randomUUID(), context: { userId: 'Practitioner/1', ...context }, ...(prefetch ? { prefetch } : {}) })

beforeAll(async () => {
  if (!READY) return
  // A patient imported from FHIR, on warfarin in the latest visit, allergic to penicillin.
  const dir = space.dir('medrec-cds-')
  const ndjson = (name: string, rows: unknown[]) => writeFileSync(join(dir, name), rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
  ndjson('Patient.ndjson', [{ resourceType: 'Patient', id: 'pt-1', gender: 'female' }])
  ndjson('Encounter.ndjson', [{ resourceType: 'Encounter', id: 'enc-1', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/pt-1' }, period: { start: '2024-05-01T09:00:00Z' } }])
  ndjson('MedicationRequest.ndjson', [{ ...request('mr-1', 'pt-1', WARFARIN, 'active'), encounter: { reference: 'Encounter/enc-1' } }])
  ndjson('AllergyIntolerance.ndjson', [{ resourceType: 'AllergyIntolerance', id: 'al-1', patient: { reference: 'Patient/pt-1' }, category: ['medication'], code: { text: 'Allergy to penicillin' } }])
  dbPath = join(space.dir('medrec-cds-db-'), 'cds.sqlite')
  const db = openDatabase(dbPath)
  await importFhir(db, { input: dir, dataDir: DATA_DIR })
  db.close()
  const pair = await generateKeyPair('ES384')
  privateKey = pair.privateKey
  strangerKey = (await generateKeyPair('ES384')).privateKey
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'ehr-key-1', alg: 'ES384', use: 'sig' }
  service = await openCdsService({ databasePath: dbPath, dataDir: DATA_DIR, auth: { trustedIssuers: [{ iss: ISSUER, jwks: { keys: [jwk] } }] } })
  base = await service.app.listen({ host: '127.0.0.1', port: 0 })
})

afterAll(async () => {
  await service?.close()
  space.cleanup()
})

const auditRows = (kind: string) => {
  const db = openDatabase(dbPath, { readonly: true })
  try {
    return db.prepare(`SELECT user_name, client, source_patient_id, outputs_json FROM audit_log WHERE kind = ? ORDER BY id`).all(kind) as Array<{ user_name: string; client: string | null; source_patient_id: string | null; outputs_json: string }>
  } finally {
    db.close()
  }
}

describe.runIf(READY)('CDS Hooks 2.0 service on 127.0.0.1', () => {
  it('lists patient-view, order-select and order-sign with prefetch templates for patient, medications, conditions and allergies', async () => {
    const res = await fetch(`${base}/cds-services`)
    expect(res.status).toBe(200)
    const body = discovery.parse(await res.json())
    expect(body.services.map((s) => s.hook)).toEqual(['patient-view', 'order-select', 'order-sign'])
    for (const s of body.services) expect(Object.keys(s.prefetch ?? {})).toEqual(['patient', 'medications', 'conditions', 'allergies'])
    expect(body.services[2]!.prefetch!.medications).toBe('MedicationRequest?patient={{context.patientId}}&status=active')
  })

  it('order-sign with prefetch: an order for ibuprofen beside active warfarin gets a critical card with source, licence, override reasons and a substitution', async () => {
    const prefetch = { patient: { resourceType: 'Patient', id: 'ehr-9' }, medications: searchset([request('active-1', 'ehr-9', WARFARIN, 'active')]), conditions: searchset([]), allergies: searchset([]) }
    const draft = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: request('draft-1', 'ehr-9', IBUPROFEN) }] }
    const { status, json } = await call('/cds-services/medrec-order-sign', hookCall('order-sign', { patientId: 'ehr-9', draftOrders: draft }, prefetch))
    expect(status).toBe(200)
    const { cards } = response.parse(json)
    const critical = cards.filter((c) => c.indicator === 'critical')
    expect(critical).toHaveLength(1)
    expect(critical[0]!.summary).toMatch(/^(Major|Contraindicated) interaction: Ibuprofen 400 MG Oral Tablet \+ Warfarin Sodium 5 MG Oral Tablet$/)
    expect(critical[0]!.source.label).toMatch(/DDInter.*CC BY-NC-SA 4\.0/)
    expect(critical[0]!.overrideReasons!.map((r) => r.code)).toEqual(['will-monitor', 'will-adjust-dose', 'previously-tolerated', 'other'])
    const suggestion = critical[0]!.suggestions![0]!
    expect(critical[0]!.selectionBehavior).toBe('at-most-one')
    expect(suggestion.isRecommended).toBe(true)
    expect(suggestion.actions![0]).toMatchObject({ type: 'delete', resourceId: ['MedicationRequest/draft-1'] })
    const created = suggestion.actions![1]!.resource as { medicationCodeableConcept: { coding: Array<{ system: string; code: string }> } }
    const substitute = created.medicationCodeableConcept.coding[0]!
    expect(substitute.system).toBe('http://www.whocc.no/atc')
    expect(substitute.code.slice(0, 4)).toBe('M01A') // a member of ibuprofen's class
    expect(substitute.code).not.toBe('M01AE01')
  })

  it('order-sign without prefetch reads the active medications from the patient store', async () => {
    const draft = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: request('draft-2', 'pt-1', IBUPROFEN) }] }
    const { status, json } = await call('/cds-services/medrec-order-sign', hookCall('order-sign', { patientId: 'pt-1', draftOrders: draft }))
    expect(status).toBe(200)
    const { cards } = response.parse(json)
    expect(cards.filter((c) => c.indicator === 'critical').map((c) => c.summary)).toEqual([expect.stringMatching(/interaction: Ibuprofen .* \+ Warfarin Sodium 5 MG Oral Tablet$/)])
  })

  it('order-sign flags an order matching a recorded medication allergy', async () => {
    const draft = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: request('draft-3', 'pt-1', PENICILLIN) }] }
    const { json } = await call('/cds-services/medrec-order-sign', hookCall('order-sign', { patientId: 'pt-1', draftOrders: draft }))
    const { cards } = response.parse(json)
    expect(cards.find((c) => c.summary.startsWith('Recorded allergy'))).toMatchObject({ indicator: 'critical', summary: 'Recorded allergy: Allergy to penicillin — ordered Penicillin V Potassium 250 MG Oral Tablet' })
  })

  it('order-select warns only about the selected order; other drafts are context', async () => {
    const draft = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: request('d-ibu', 'pt-1', IBUPROFEN) }, { resource: request('d-para', 'pt-1', PARACETAMOL) }] }
    const selectIbuprofen = await call('/cds-services/medrec-order-select', hookCall('order-select', { patientId: 'pt-1', selections: ['MedicationRequest/d-ibu'], draftOrders: draft }))
    expect(response.parse(selectIbuprofen.json).cards.some((c) => c.indicator === 'critical' && c.summary.includes('Ibuprofen'))).toBe(true)
    const selectParacetamol = await call('/cds-services/medrec-order-select', hookCall('order-select', { patientId: 'pt-1', selections: ['MedicationRequest/d-para'], draftOrders: draft }))
    expect(response.parse(selectParacetamol.json).cards.some((c) => c.summary.includes('Ibuprofen') && c.summary.includes('Warfarin'))).toBe(false)
  })

  it('patient-view reports interactions already on the list as warnings, not critical, with and without prefetch', async () => {
    const prefetch = { medications: searchset([request('a1', 'x', WARFARIN, 'active'), request('a2', 'x', IBUPROFEN, 'active')]) }
    const withPrefetch = response.parse((await call('/cds-services/medrec-patient-view', hookCall('patient-view', { patientId: 'x' }, prefetch))).json)
    expect(withPrefetch.cards.map((c) => c.indicator)).toContain('warning')
    expect(withPrefetch.cards.map((c) => c.indicator)).not.toContain('critical')
    const fromStore = response.parse((await call('/cds-services/medrec-patient-view', hookCall('patient-view', { patientId: 'pt-1' }))).json)
    expect(fromStore.cards).toHaveLength(1)
    expect(fromStore.cards[0]).toMatchObject({ indicator: 'info' })
    expect(fromStore.cards[0]!.detail).toMatch(/does not mean the combination is safe/)
  })

  it('refuses missing, malformed, untrusted, mis-addressed, expired and replayed tokens with 401 and a reason', async () => {
    const body = hookCall('patient-view', { patientId: 'pt-1' })
    const path = '/cds-services/medrec-patient-view'
    const cases: Array<[string | null, RegExp]> = [
      [null, /Missing "Authorization: Bearer <JWT>"/],
      ['Basic dXNlcjpwYXNz', /not "Bearer <JWT>"/],
      ['Bearer abc.def.ghi', /not a readable JWT/],
      [`Bearer ${await token({ iss: 'https://evil.example' }, path)}`, /issuer "https:\/\/evil\.example" is not a trusted issuer/],
      [`Bearer ${await token({ key: strangerKey }, path)}`, /signature verification failed/],
      [`Bearer ${await token({ aud: `${base}/cds-services/medrec-order-sign` })}`, /claim "aud"/],
      [`Bearer ${await token({ exp: Math.floor(Date.now() / 1000) - 120 }, path)}`, /expired/]
    ]
    for (const [authorization, reason] of cases) {
      const res = await call(path, body, authorization)
      expect(res.status, String(authorization)).toBe(401)
      expect(res.json.error).toMatch(reason)
    }
    const once = `Bearer ${await token({}, path)}`
    expect((await call(path, body, once)).status).toBe(200)
    const replay = await call(path, body, once)
    expect(replay.status).toBe(401)
    expect(replay.json.error).toMatch(/already used/)
  })

  it('answers 400 for malformed JSON and incomplete requests, 404 for an unknown service', async () => {
    const path = '/cds-services/medrec-order-sign'
    expect((await call(path, '{"hook": "order-sign",')).status).toBe(400)
    const missingPatient = await call(path, { hook: 'order-sign', hookInstance: randomUUID(), context: {} })
    expect(missingPatient).toMatchObject({ status: 400, json: { error: '"context.patientId" is required.' } })
    const wrongHook = await call(path, hookCall('patient-view', { patientId: 'pt-1' }))
    expect(wrongHook.status).toBe(400)
    expect(wrongHook.json.error).toMatch(/"hook" must be "order-sign"/)
    expect((await call(path, hookCall('order-sign', { patientId: 'pt-1' }))).json.error).toMatch(/draftOrders/)
    expect((await call('/cds-services/nope', hookCall('order-sign', { patientId: 'pt-1' }))).status).toBe(404)
  })

  it('writes accepted and overridden feedback into the audit log with the card it refers to; bad feedback writes nothing', async () => {
    const draft = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: request('draft-9', 'pt-1', IBUPROFEN) }] }
    const { json } = await call('/cds-services/medrec-order-sign', hookCall('order-sign', { patientId: 'pt-1', draftOrders: draft }))
    const critical = response.parse(json).cards.find((c) => c.indicator === 'critical')!
    const before = auditRows('cds-hooks-feedback').length
    const bad = await call('/cds-services/medrec-order-sign/feedback', { feedback: [{ card: critical.uuid, outcome: 'ignored', outcomeTimestamp: new Date().toISOString() }] })
    expect(bad.status).toBe(400)
    expect(auditRows('cds-hooks-feedback')).toHaveLength(before)
    const feedback = {
      feedback: [
        { card: critical.uuid, outcome: 'overridden', overrideReason: { reason: { code: 'will-monitor', system: 'urn:medrec:override-reason' }, userComment: 'INR twice weekly' }, outcomeTimestamp: '2026-12-03T10:00:00Z' },
        { card: critical.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: critical.suggestions![0]!.uuid }], outcomeTimestamp: '2026-12-03T10:01:00Z' }
      ]
    }
    const res = await call('/cds-services/medrec-order-sign/feedback', feedback)
    expect(res).toMatchObject({ status: 200, json: { recorded: 2 } })
    const rows = auditRows('cds-hooks-feedback').slice(before)
    expect(rows).toHaveLength(2)
    const [overridden, accepted] = rows.map((r) => ({ ...r, outputs: JSON.parse(r.outputs_json) as Record<string, unknown> }))
    // The verified token's subject and issuer go in `client`, beside the OS account running the service.
    expect(overridden!.client).toBe(`ehr-client-42 (${ISSUER})`)
    expect(overridden!.user_name).not.toBe(overridden!.client)
    expect(overridden!.source_patient_id).toBe('pt-1')
    expect(overridden!.outputs).toMatchObject({ outcome: 'overridden', overrideReason: { reason: { code: 'will-monitor' }, userComment: 'INR twice weekly' }, cardIssued: { indicator: 'critical', summary: critical.summary } })
    expect(accepted!.outputs).toMatchObject({ outcome: 'accepted', acceptedSuggestions: [{ id: critical.suggestions![0]!.uuid }] })
    expect(auditRows('cds-hooks-call').length).toBeGreaterThan(5)
  })
})
