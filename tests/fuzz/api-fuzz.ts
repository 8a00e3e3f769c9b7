// Property-based fuzzing of every API method through the dispatcher, with fast-check. Each case is a call an
// untrusted renderer could make: arbitrary arguments, or a valid call with one field replaced, removed or
// added. The properties: the dispatcher never throws; a failure is never 'internal' (only real faults are);
// its message is clear (names the method or field, no "undefined"/"[object Object]"); and a failed call
// changes nothing stored (audit log and settings). Used by tests/unit/api-fuzz.test.ts (a modest count, in
// `npm test`) and scripts/fuzz.ts (`npm run fuzz`, ≥ 10,000 cases per method).
import { API_METHODS, type ApiResponse } from '../../src/shared/api/methods'
import { type ApiMethod } from '../../src/shared/api'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { createApiDispatcher, type ApiDispatcher } from '../../src/main/api/dispatcher'
import { createApiHandlers } from '../../src/main/api/handlers'
import type { Db } from '../../src/main/services/db/database'
import { buildKnowledgeBase } from '../../src/main/services/drugs/knowledge-build'
import { MedrecServices } from '../../src/main/services/open-services'
import { FIXTURE_MODELS_DIR, seededDatabase } from '../fixtures/models/seed-patients'

/** A valid call of each method on the seeded fixture database (patient id 1 is source id 10001). */
export function validCalls(patientId: number, recommendationAuditId = 1): Record<ApiMethod, unknown[]> {
  return {
    'app:info': [],
    'patients:list': [{ search: '1000', offset: 0, limit: 5 }],
    'patients:timeline': [patientId],
    'models:list': [],
    'models:card': ['fixture-linear'],
    'settings:get': [],
    'settings:update': [{ thresholdOverride: 0.4 }],
    'recommend:run': [{ patientId, threshold: 0.3 }],
    'recommend:acknowledge': [{ patientId, recommendationAuditId, combination: ['B01A', 'M01A'], drugs: ['B01AA03', 'M01AE01'], warningKeys: ['B01AA03 + M01AE01'] }],
    'explain:drug': [{ patientId, atc3: 'B01A' }],
    'drugs:molecules': [{ atc3: 'N02B', limit: 2 }],
    'drugs:search': [{ text: 'warf', limit: 5 }],
    'review:check': [{ patientId, proposed: ['B01AA03', 'M01AE01'] }],
    'review:submit': [{ patientId, proposed: ['B01AA03'], decisions: [] }],
    'review:history': [patientId],
    'evaluate:start': [{ modelIds: ['fixture-linear'], since: null, replicates: 0 }],
    'evaluate:status': ['no-such-job'],
    'interop:fhir-export': [{ patientId, includeReview: true }],
    // Paths that do not exist: the calls are well formed and refused with the reason, writing nothing.
    'imports:fhir-plan': [{ path: '/nonexistent/medrec-fuzz/fhir-export' }],
    'imports:fhir-run': [{ path: '/nonexistent/medrec-fuzz/fhir-export', replace: false }],
    'interop:cds-status': [],
    'interop:cds-start': [{ host: '127.0.0.1', port: 65534, authConfigPath: '/nonexistent/medrec-fuzz/cds-auth.json' }],
    'interop:cds-stop': []
  }
}

/** Values a hostile or buggy caller sends: JSON of any shape plus what structured clone carries beyond JSON. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  fc.constantFrom(NaN, Infinity, -Infinity, -0, undefined, null, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, -1, 0, 1e-300, 1e300),
  fc.string({ maxLength: 2000 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.integer(),
  fc.double(),
  fc.constantFrom('', ' ', '../etc/passwd', 'B01A', 'b01a', 'N02B', 'warfarin', 'fixture-linear', 'fixture-mismatched-io', "'; DROP TABLE audit_log; --", '%', '_', '\u0000'),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 40 }),
  fc.date({ noInvalidDate: false })
)

/** One call: the method and its arguments (an array, or not, as a hostile caller may send). */
export function callArbitrary(method: ApiMethod, valid: readonly unknown[]): fc.Arbitrary<{ method: ApiMethod; args: unknown }> {
  const base = valid[0]
  const isObject = typeof base === 'object' && base !== null && !Array.isArray(base)
  const keys = isObject ? Object.keys(base as object) : []
  const mutations: Array<fc.Arbitrary<unknown>> = [
    // Entirely arbitrary arguments, array or not.
    hostileValue,
    fc.array(hostileValue, { maxLength: 3 }),
    // The valid call itself: must never be 'internal' either.
    fc.constant([...valid]),
    // One argument replaced.
    hostileValue.map((v) => (valid.length > 0 ? [v, ...valid.slice(1)] : [v]))
  ]
  if (isObject) {
    mutations.push(
      // One field replaced with anything.
      fc.tuple(fc.constantFrom(...keys), hostileValue).map(([key, value]) => [{ ...(base as object), [key]: value }]),
      // One field removed.
      fc.constantFrom(...keys).map((key) => {
        const copy: Record<string, unknown> = { ...(base as Record<string, unknown>) }
        delete copy[key]
        return [copy]
      }),
      // A field nobody asked for (userName among them: who is never the caller's to say).
      fc.tuple(fc.constantFrom('userName', 'extra', '__proto__', 'constructor', 'limit', 'patientId'), hostileValue).map(([key, value]) => [
        { ...(base as object), [key]: value }
      ])
    )
  }
  return fc.oneof(...mutations).map((args) => ({ method, args }))
}

export interface FuzzReport {
  method: ApiMethod
  calls: number
  ok: number
  byCode: Record<string, number>
  /** Calls the caller caused that came back 'internal', with the message. */
  internal: Array<{ args: string; message: string }>
  unclear: Array<{ args: string; code: string; message: string }>
  changedAfterFailure: Array<{ args: string; code: string }>
  /** The dispatcher threw instead of answering. */
  crashes: Array<{ args: string; error: string }>
}

/** What a failed call must not change: the audit log's length and head, and every setting. */
function storedState(db: Db): string {
  const audit = db.prepare('SELECT count(*) AS n, max(id) AS last FROM audit_log').get() as { n: number; last: number | null }
  const settings = db.prepare('SELECT key, value FROM settings ORDER BY key').all()
  return JSON.stringify({ audit, settings })
}

const describeArgs = (args: unknown): string => {
  try {
    const text = JSON.stringify(args, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v === undefined ? '<undefined>' : v))
    return (text ?? String(args)).slice(0, 300)
  } catch {
    return String(args).slice(0, 300)
  }
}

function unclear(method: ApiMethod, response: Extract<ApiResponse, { ok: false }>): boolean {
  const { message, code } = response.error
  // "received NaN" / "got undefined" describe the input; anywhere else they are a value leaking into prose.
  const prose = message.replace(/"[^"]*"/g, '').replace(/\b(received|got) \S+/g, '')
  if (message.trim().length < 12 || /undefined|\[object Object\]|NaN/.test(prose)) return true
  // A refused argument names the method and the argument (and the field when one is at fault).
  return code === 'invalid' && message.startsWith('Invalid arguments') && !message.includes(method)
}

/** An isolated fixture workspace (patients, fixture models, fixture knowledge base) behind a dispatcher. */
export function fuzzWorkspace(): { dispatcher: ApiDispatcher; db: Db; patientId: number; close: () => Promise<void> } {
  const seeded = seededDatabase()
  const kbDir = mkdtempSync(join(tmpdir(), 'medrec-fuzz-kb-'))
  const knowledgeFixtures = join(import.meta.dirname, '..', 'fixtures', 'knowledge')
  const kbPath = join(kbDir, 'knowledge.sqlite')
  buildKnowledgeBase(kbPath, knowledgeFixtures, { curatedTablePath: join(knowledgeFixtures, 'curated.csv') })
  const workspace = new MedrecServices(seeded.db, { modelsDirectory: FIXTURE_MODELS_DIR, knowledgeBasePath: kbPath })
  const handlers = createApiHandlers({ db: seeded.db, databasePath: seeded.path, appVersion: 'fuzz', services: workspace })
  const dispatcher = createApiDispatcher(handlers, { onInternalError: () => {} })
  return {
    dispatcher,
    db: seeded.db,
    patientId: seeded.ids.get('10001')!,
    async close() {
      await workspace.close()
      seeded.cleanup()
      rmSync(kbDir, { recursive: true, force: true })
    }
  }
}

/** Runs `runs` cases against one method and reports every property violation (never throws for them). */
export async function fuzzMethod(
  target: { dispatcher: ApiDispatcher; db: Db; patientId: number },
  method: ApiMethod,
  options: { runs: number; seed?: number }
): Promise<FuzzReport> {
  const report: FuzzReport = { method, calls: 0, ok: 0, byCode: {}, internal: [], unclear: [], changedAfterFailure: [], crashes: [] }
  // An acknowledgement cites a real recommendation of the patient.
  const recommendation = method === 'recommend:acknowledge' ? await target.dispatcher.dispatch('recommend:run', [{ patientId: target.patientId, threshold: 0.05 }]) : null
  const auditId = recommendation?.ok ? (recommendation.result as { recommendation: { auditId: number } }).recommendation.auditId : 1
  const valid = validCalls(target.patientId, auditId)[method]
  await fc.assert(
    fc.asyncProperty(callArbitrary(method, valid), async ({ args }) => {
      report.calls++
      const before = storedState(target.db)
      let response: ApiResponse
      try {
        response = await target.dispatcher.dispatch(method, args)
      } catch (error) {
        report.crashes.push({ args: describeArgs(args), error: error instanceof Error ? error.message : String(error) })
        return
      }
      if (response.ok) {
        report.ok++
        return
      }
      const { code, message } = response.error
      report.byCode[code] = (report.byCode[code] ?? 0) + 1
      if (code === 'internal') report.internal.push({ args: describeArgs(args), message })
      else if (unclear(method, response)) report.unclear.push({ args: describeArgs(args), code, message })
      if (storedState(target.db) !== before) report.changedAfterFailure.push({ args: describeArgs(args), code })
    }),
    { numRuns: options.runs, seed: options.seed, endOnFailure: false }
  )
  return report
}

export const FUZZED_METHODS: readonly ApiMethod[] = API_METHODS
