// The Recommend view at drug level in headless Chromium against the real services: each recommended class shows
// its drug (ingredient + ATC5) and where it came from, a DDI-safe substitution within a class is named, existing
// co-prescriptions sit in their own non-interrupting panel, and the view is axe-clean. Screenshots 30 and 31.
import type { MedrecApi } from '../../src/shared/api'
import type { RecommendationView } from '../../src/shared/domain/recommendation'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { launchBrowser, screenshot, type Browser } from './browser'
import { testDatabase, type TestDatabase } from './demo-database'
import { buildApp, startTestHost, type BuiltApp, type TestHost } from './host'
import { e2eModels, knowledgeBasePath, seriousAxeViolations, writableCopy } from './workspace-setup'

interface PageGlobals {
  api: MedrecApi
}

const BLOCK_AT_MAJOR = { enabled: true, blockSeverity: 'Major', maxDdiRate: null } as const

describe('Recommend view at drug level (headless Chromium)', () => {
  let database: TestDatabase
  let copy: { path: string; remove(): void }
  let db: Db
  let app: BuiltApp
  let host: TestHost
  let browser: Browser
  let page: Page
  let patient: { id: number; sourcePatientId: string }
  let result: RecommendationView
  const pageErrors: string[] = []

  const callApi = <T>(method: string, ...args: unknown[]): Promise<T> =>
    page.evaluate(
      ([m, a]) => ((globalThis as unknown as PageGlobals).api as unknown as Record<string, (...x: unknown[]) => Promise<unknown>>)[m as string]!(...(a as unknown[])),
      [method, args] as const
    ) as Promise<T>

  beforeAll(async () => {
    database = await testDatabase()
    copy = writableCopy(database)
    const models = await e2eModels(copy.path)
    db = openDatabase(copy.path, { readonly: true })
    app = await buildApp()
    host = await startTestHost(app, { databasePath: copy.path, readonly: false, modelsDirectory: models.directory, knowledgeBasePath: knowledgeBasePath() })
    browser = await launchBrowser()
    page = await browser.context.newPage()
    page.on('pageerror', (error) => pageErrors.push(error.message))
    await page.goto(host.url)
    await callApi('settings:update', { thresholdOverride: null, ddiSafe: BLOCK_AT_MAJOR })

    // The first patient with 2+ visits whose DDI-safe recommendation (blocking at Major) substitutes a drug within
    // its class and keeps an existing co-prescription with a major interaction.
    const candidates = db
      .prepare(
        `SELECT p.id, p.source_patient_id AS sourcePatientId FROM patients p
         WHERE (SELECT count(*) FROM visits v WHERE v.patient_id = p.id) BETWEEN 2 AND 6 ORDER BY p.source DESC, p.id LIMIT 120`
      )
      .all() as Array<{ id: number; sourcePatientId: string }>
    for (const candidate of candidates) {
      const found = await callApi<RecommendationView>('recommend:run', {
        patientId: candidate.id,
        ddiSafe: { blockSeverity: 'Major', maxDdiRate: null }
      }).catch(() => null)
      if (!found?.ddiCheck || found.recommendation.substituted.length === 0) continue
      const existingMajor = found.ddiCheck.warnings.some((w, i) => w.tier === 'interrupt' && found.warningScopes[i] === 'existing')
      if (existingMajor && found.classes.length <= 25) {
        patient = candidate
        result = found
        break
      }
    }
    if (!patient) throw new Error('No demo patient has a DDI-safe recommendation with a substitution and an existing major co-prescription.')
  })

  afterAll(async () => {
    await browser?.close()
    await host?.close()
    app?.remove()
    db?.close()
    copy?.remove()
    database?.remove()
  })

  it('shows the drug of every class under it, the substitution, and existing co-prescriptions apart, axe-clean', async () => {
    await page.getByRole('button', { name: 'Patients', exact: true }).click()
    await page.getByLabel('Find patient').fill(patient.sourcePatientId)
    await page.locator('[role=option]', { hasText: patient.sourcePatientId }).first().click()
    await page.getByRole('tab', { name: 'Recommend' }).click()
    const rows = page.locator('.combination-table tbody tr')
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(result.classes.length)

    // Each row lists its class's drugs by ATC5, with the ingredient name and where it came from.
    for (const cls of result.classes) {
      const row = page.locator(`tr[data-atc3="${cls.atc3}"]`)
      expect(await row.locator('.class-drug[data-atc5]').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-atc5')))).toEqual(
        cls.drugs.map((d) => d.atc5)
      )
      for (const drug of cls.drugs) {
        const text = (await row.locator(`.class-drug[data-atc5="${drug.atc5}"]`).textContent()) ?? ''
        if (drug.name) expect(text).toContain(drug.name)
        expect(text).toContain({ current: 'taking now', history: 'taken before', model: 'within-class choice' }[drug.source])
      }
    }
    // The substitution: the class shows the new member and names the drug it replaced.
    const substitution = result.recommendation.substituted[0]!
    const substitutedRow = page.locator(`tr[data-atc3="${substitution.atc3}"]`)
    expect(await substitutedRow.locator(`.class-drug[data-atc5="${substitution.to}"]`).count()).toBe(1)
    expect(await substitutedRow.locator('.substituted-note').first().textContent()).toContain(`substituted for ${substitution.from}`)
    await substitutedRow.scrollIntoViewIfNeeded()
    await screenshot(page, '30-recommend-drugs-under-classes')

    // Major pairs among drugs the patient already takes: their own collapsed panel, not the interrupting banner.
    const existing = result.ddiCheck!.warnings.filter((w, i) => w.tier === 'interrupt' && result.warningScopes[i] === 'existing')
    const panel = page.locator('.details-panel', { hasText: 'Existing co-prescriptions' })
    expect(await panel.locator('summary').textContent()).toContain(`(${existing.length})`)
    const interruptingNew = result.ddiCheck!.warnings.filter((w, i) => w.tier === 'interrupt' && result.warningScopes[i] === 'new')
    expect(interruptingNew).toEqual([]) // blocking at Major leaves no major pair with a new drug
    expect(await page.getByRole('alertdialog').count()).toBe(0)
    await panel.locator('summary').click()
    // Therapeutic duplications among the recommended and current drugs, when there are any, in their own panel.
    const duplications = result.recommendation.warnings.filter((w) => w.kind === 'duplication')
    const duplicationPanel = page.locator('.details-panel', { hasText: 'Therapeutic duplication' })
    expect(await duplicationPanel.count()).toBe(duplications.length > 0 ? 1 : 0)
    if (duplications.length > 0) expect(await duplicationPanel.locator('li').count()).toBe(duplications.length)

    const violations = await seriousAxeViolations(page)
    expect(violations, JSON.stringify(violations, null, 1)).toEqual([])
    expect(pageErrors).toEqual([])
    await panel.scrollIntoViewIfNeeded()
    await screenshot(page, '31-recommend-existing-co-prescriptions')
  })
})
