// The CDS Hooks 2.0 HTTP service on fastify: discovery, the three hooks, and feedback into the audit
// log. Every hook call and every feedback is audited (append-only audit_log), like the app's checks.
//   GET  /cds-services                  discovery (no authentication: it reveals no patient data)
//   POST /cds-services/{id}             a hook call; Bearer JWT required
//   POST /cds-services/{id}/feedback    accepted / overridden outcomes of cards; Bearer JWT required
import { canonicalJson } from '../../canonical-json'
import { createHash } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Db } from '../../db/database'
import { appendAudit } from '../../audit/audit'
import { writeWhenFree } from '../../db/busy'
import { isObject, type Json } from '../../imports/fhir/resources'
import { AuditBatcher } from './audit-batch'
import type { CdsAuthenticator } from './auth'
import { CdsAuthError } from './auth'
import type { CdsCardBuilder } from './cards'
import { CDS_SERVICES, type CdsCard, type CdsServiceDefinition } from './definitions'
import { medicationItem, PatientPictures, type MedicationItem } from './patient-context'

export interface CdsServerOptions {
  db: Db
  cards: CdsCardBuilder
  /** null: no authentication, allowed only for a loopback listener (see medrec serve --insecure-no-auth). */
  auth: CdsAuthenticator | null
  /** Largest request body (prefetch can be large). */
  bodyLimitBytes?: number
}

class BadRequest extends Error {}

/** Cards issued, kept so feedback can be audited with what the card said (bounded). */
const ISSUED_LIMIT = 100_000

const sha256 = (value: unknown): string => createHash('sha256').update(canonicalJson(value)).digest('hex')

export function createCdsServer(options: CdsServerOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: options.bodyLimitBytes ?? 20 * 1024 * 1024 })
  const pictures = new PatientPictures(options.db)
  const issued = new Map<string, { service: string; patientId: string; indicator: string; summary: string }>()
  const services = new Map(CDS_SERVICES.map((s) => [s.id, s]))
  const callAudit = new AuditBatcher(options.db)

  // Malformed JSON, a wrong content type or an oversized body: 400/415/413 with the reason, as JSON.
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    const status = error instanceof CdsAuthError ? 401 : error instanceof BadRequest ? 400 : (error.statusCode ?? 500)
    if (status === 401) void reply.header('WWW-Authenticate', 'Bearer')
    void reply.status(status).send({ error: status >= 500 ? 'Internal error in the CDS service.' : error.message })
  })
  app.setNotFoundHandler((request, reply) => void reply.status(404).send({ error: `No such endpoint: ${request.method} ${request.url}` }))

  const authenticate = async (request: FastifyRequest): Promise<string> => {
    if (!options.auth) return 'unauthenticated (loopback)'
    const client = await options.auth.verify(request.headers.authorization, request.headers.host, request.url.split('?')[0]!)
    return `${client.sub} (${client.iss})`
  }
  const serviceOf = (request: FastifyRequest, reply: FastifyReply): CdsServiceDefinition | null => {
    const service = services.get((request.params as { id: string }).id)
    if (!service) void reply.status(404).send({ error: `No CDS service "${(request.params as { id: string }).id}"; GET /cds-services lists them.` })
    return service ?? null
  }

  app.get('/cds-services', async () => ({ services: CDS_SERVICES }))

  app.post('/cds-services/:id', async (request, reply) => {
    const service = serviceOf(request, reply)
    if (!service) return reply
    const client = await authenticate(request)
    const body = request.body
    if (!isObject(body)) throw new BadRequest('The request body must be a JSON object (a CDS Hooks request).')
    if (body.hook !== service.hook) throw new BadRequest(`"hook" must be "${service.hook}" for service ${service.id}, got ${JSON.stringify(body.hook ?? null)}.`)
    if (typeof body.hookInstance !== 'string' || body.hookInstance === '') throw new BadRequest('"hookInstance" (a UUID string) is required.')
    const context = body.context
    if (!isObject(context) || typeof context.patientId !== 'string' || context.patientId === '') throw new BadRequest('"context.patientId" is required.')
    if (body.prefetch !== undefined && !isObject(body.prefetch)) throw new BadRequest('"prefetch" must be an object of prefetch keys.')
    const orders = service.hook === 'patient-view' ? { introduced: [], otherDrafts: [] } : draftOrders(service.hook, context)
    const picture = pictures.picture(context.patientId, body.prefetch as Record<string, unknown> | undefined)
    const cards = options.cards.cards(service.hook, picture, orders)
    // Answered only once the call's audit row has committed (group commit with concurrent calls).
    await callAudit.append({
      kind: 'cds-hooks-call',
      client,
      patientId: null,
      sourcePatientId: context.patientId,
      inputsHash: sha256({ hook: service.hook, context, prefetchKeys: Object.keys((body.prefetch as Json | undefined) ?? {}) }),
      modelId: null,
      modelVersion: null,
      outputs: { service: service.id, hookInstance: body.hookInstance, from: picture.from, cards: cards.map((c) => ({ uuid: c.uuid, indicator: c.indicator, summary: c.summary })) }
    })
    remember(cards, service.id, context.patientId)
    return { cards }
  })

  app.post('/cds-services/:id/feedback', async (request, reply) => {
    const service = serviceOf(request, reply)
    if (!service) return reply
    const client = await authenticate(request)
    const body = request.body
    if (!isObject(body) || !Array.isArray(body.feedback) || body.feedback.length === 0) throw new BadRequest('The body must be { "feedback": [ … ] } with at least one entry.')
    const entries = body.feedback.map((entry, i) => feedbackEntry(entry, i))
    await writeWhenFree(options.db, 'Recording CDS Hooks feedback in the audit log', () => {
      for (const entry of entries) {
        const card = issued.get(entry.card)
        appendAudit(options.db, {
          kind: 'cds-hooks-feedback',
          client,
          patientId: null,
          sourcePatientId: card?.patientId ?? null,
          inputsHash: sha256({ service: service.id, ...entry }),
          modelId: null,
          modelVersion: null,
          outputs: { service: service.id, ...entry, cardIssued: card ?? null }
        })
      }
    })
    return { recorded: entries.length }
  })

  function remember(cards: CdsCard[], service: string, patientId: string): void {
    if (issued.size + cards.length > ISSUED_LIMIT) issued.clear()
    for (const card of cards) issued.set(card.uuid, { service, patientId, indicator: card.indicator, summary: card.summary })
  }

  return app
}

/** order-select: the selected draft orders are introduced, the others are context; order-sign: all are introduced. */
function draftOrders(hook: 'order-select' | 'order-sign', context: Json): { introduced: MedicationItem[]; otherDrafts: MedicationItem[] } {
  const bundle = context.draftOrders
  if (!isObject(bundle) || bundle.resourceType !== 'Bundle') throw new BadRequest('"context.draftOrders" must be a FHIR Bundle of the draft orders.')
  const resources = (Array.isArray(bundle.entry) ? bundle.entry : [])
    .map((e) => (isObject(e) && isObject(e.resource) ? e.resource : null))
    .filter((r): r is Json => r !== null && r.resourceType === 'MedicationRequest') // other order types carry no drug
  const items = resources.map(medicationItem)
  if (hook === 'order-sign') return { introduced: items, otherDrafts: [] }
  const selections = context.selections
  if (!Array.isArray(selections) || selections.some((s) => typeof s !== 'string')) throw new BadRequest('"context.selections" must list the selected orders as "Type/id".')
  const selected = new Set(selections as string[])
  return { introduced: items.filter((i) => i.resourceRef && selected.has(i.resourceRef)), otherDrafts: items.filter((i) => !i.resourceRef || !selected.has(i.resourceRef)) }
}

interface FeedbackEntry {
  card: string
  outcome: 'accepted' | 'overridden'
  outcomeTimestamp: string
  acceptedSuggestions?: Array<{ id: string }>
  overrideReason?: { reason?: { code: string; system?: string; display?: string }; userComment?: string }
}

function feedbackEntry(entry: unknown, i: number): FeedbackEntry {
  const where = `feedback[${i}]`
  if (!isObject(entry)) throw new BadRequest(`${where} must be an object.`)
  if (typeof entry.card !== 'string' || entry.card === '') throw new BadRequest(`${where}.card (the card's uuid) is required.`)
  if (entry.outcome !== 'accepted' && entry.outcome !== 'overridden') throw new BadRequest(`${where}.outcome must be "accepted" or "overridden".`)
  if (typeof entry.outcomeTimestamp !== 'string' || Number.isNaN(Date.parse(entry.outcomeTimestamp))) throw new BadRequest(`${where}.outcomeTimestamp must be an ISO date-time.`)
  const out: FeedbackEntry = { card: entry.card, outcome: entry.outcome, outcomeTimestamp: entry.outcomeTimestamp }
  if (entry.acceptedSuggestions !== undefined) {
    if (!Array.isArray(entry.acceptedSuggestions) || entry.acceptedSuggestions.some((s) => !isObject(s) || typeof s.id !== 'string'))
      throw new BadRequest(`${where}.acceptedSuggestions must be [{ "id": "<suggestion uuid>" }].`)
    out.acceptedSuggestions = (entry.acceptedSuggestions as Array<{ id: string }>).map((s) => ({ id: s.id }))
  }
  if (entry.overrideReason !== undefined) {
    const reason = entry.overrideReason
    if (!isObject(reason)) throw new BadRequest(`${where}.overrideReason must be an object.`)
    if (reason.reason !== undefined && (!isObject(reason.reason) || typeof reason.reason.code !== 'string')) throw new BadRequest(`${where}.overrideReason.reason must be a Coding with a code.`)
    if (reason.userComment !== undefined && typeof reason.userComment !== 'string') throw new BadRequest(`${where}.overrideReason.userComment must be a string.`)
    out.overrideReason = {
      ...(isObject(reason.reason) ? { reason: { code: String(reason.reason.code), system: reason.reason.system as string | undefined, display: reason.reason.display as string | undefined } } : {}),
      ...(typeof reason.userComment === 'string' ? { userComment: reason.userComment } : {})
    }
  }
  if (entry.outcome === 'accepted' && out.overrideReason) throw new BadRequest(`${where}: an accepted card has no overrideReason.`)
  return out
}
