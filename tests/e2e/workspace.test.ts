// The clinical workspace in headless Chromium against the real services (a trained model, the drug
// knowledge base, a writable copy of the demo database): recommendation with model/provider/timing,
// threshold control, interrupting DDI warnings and their acknowledgement, inline and collapsed tiers with
// sources, the explanation (Shapley bars that sum from the baseline to the probability, codes by title,
// the RDKit molecule), pharmacist review with overrides and the audit log, the model card, settings that
// persist, error and empty states, keyboard use, and axe-core accessibility checks. Screenshots go to
// test-artifacts/e2e/.
import type { MedrecApi } from '../../src/shared/api'
import type { ReviewCheck } from '../../src/shared/domain/review'
import type { ExplanationView } from '../../src/shared/domain/explanation'
import type { RecommendationView } from '../../src/shared/domain/recommendation'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { launchBrowser, screenshot, type Browser } from './browser'
import { testDatabase, type TestDatabase } from './demo-database'
import { buildApp, startTestHost, type BuiltApp, type TestHost } from './host'
import { e2eModels, knowledgeBasePath, seriousAxeViolations, writableCopy, type E2eModels } from './workspace-setup'

interface PageGlobals {
  api: MedrecApi
}

const percent = (value: number, digits = 1) => `${(value * 100).toFixed(digits)}%`

describe('Clinical workspace (headless Chromium)', () => {
  let database: TestDatabase
  let copy: { path: string; remove(): void }
  let models: E2eModels
  let db: Db
  let app: BuiltApp
  let host: TestHost
  let browser: Browser
  let page: Page
  const pageErrors: string[] = []
  const failedRequests: string[] = []
  let patient: { id: number; sourcePatientId: string }
  let initial: RecommendationView

  /** Calls window.api in the page: the same client, bridge and validated dispatcher the UI uses. */
  const callApi = <T>(method: string, ...args: unknown[]): Promise<T> =>
    page.evaluate(
      ([m, a]) => ((globalThis as unknown as PageGlobals).api as unknown as Record<string, (...x: unknown[]) => Promise<unknown>>)[m as string]!(...(a as unknown[])),
      [method, args] as const
    ) as Promise<T>

  const auditCount = (kind: string, patientId: number) =>
    (db.prepare('SELECT count(*) AS n FROM audit_log WHERE kind = ? AND patient_id = ?').get(kind, patientId) as { n: number }).n

  async function openPatient(sourcePatientId: string): Promise<void> {
    await page.getByRole('button', { name: 'Patients', exact: true }).click()
    await page.getByLabel('Find patient').fill(sourcePatientId)
    await page.locator('[role=option]', { hasText: sourcePatientId }).first().click()
    await expect.poll(() => page.getByRole('heading', { level: 1 }).first().textContent()).toMatch(new RegExp(`^Patient ${sourcePatientId}`))
  }

  async function expectNoSeriousAxeViolations(where: string): Promise<void> {
    const violations = await seriousAxeViolations(page)
    expect(violations, `${where}: ${JSON.stringify(violations, null, 1)}`).toEqual([])
  }

  beforeAll(async () => {
    database = await testDatabase()
    copy = writableCopy(database)
    models = await e2eModels(copy.path)
    console.log(`[e2e] workspace model: ${models.modelId} (${models.origin}, ${models.directory})`)
    db = openDatabase(copy.path, { readonly: true })
    app = await buildApp()
    host = await startTestHost(app, { databasePath: copy.path, readonly: false, modelsDirectory: models.directory, knowledgeBasePath: knowledgeBasePath() })
    browser = await launchBrowser()
    page = await browser.context.newPage()
    page.on('pageerror', (error) => pageErrors.push(error.message))
    page.on('response', (response) => {
      if (response.status() >= 400) failedRequests.push(`${response.status()} ${response.url()}`)
    })
    await page.goto(host.url)

    // The patient: the first MIMIC-IV patient with 2+ visits whose recommendation (default settings)
    // introduces at least one major interaction and at least one class the patient is not taking.
    const candidates = db
      .prepare(
        `SELECT p.id, p.source_patient_id AS sourcePatientId FROM patients p WHERE p.source = 'mimic-iv'
         AND (SELECT count(*) FROM visits v WHERE v.patient_id = p.id) BETWEEN 2 AND 6 ORDER BY p.id LIMIT 25`
      )
      .all() as Array<{ id: number; sourcePatientId: string }>
    const settings = await callApi<{ ddiSafe: { enabled: boolean; blockSeverity: string; maxDdiRate: number | null }; thresholdOverride: number | null }>('settings:get')
    for (const candidate of candidates) {
      const result = await callApi<RecommendationView>('recommend:run', {
        patientId: candidate.id,
        threshold: settings.thresholdOverride,
        ddiSafe: settings.ddiSafe.enabled ? { blockSeverity: settings.ddiSafe.blockSeverity, maxDdiRate: settings.ddiSafe.maxDdiRate } : null
      }).catch(() => null)
      if (!result?.ddiCheck) continue
      const introducesMajor = result.ddiCheck.warnings.some((w, i) => w.tier === 'interrupt' && result.warningScopes[i] === 'new')
      if (introducesMajor && result.classes.some((c) => c.status === 'new') && result.classes.length <= 25) {
        patient = candidate
        initial = result
        break
      }
    }
    if (!patient) throw new Error('No demo patient has a recommendation that introduces a major interaction.')
  })

  afterAll(async () => {
    await browser?.close()
    await host?.close()
    app?.remove()
    db?.close()
    copy?.remove()
    database?.remove()
  })

  it('recommends a combination with probabilities, status, members, model, provider and timing', async () => {
    await openPatient(patient.sourcePatientId)
    await page.getByRole('tab', { name: 'Recommend' }).click()
    const rows = page.locator('.combination-table tbody tr')
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(initial.classes.length)
    expect(await rows.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-atc3')))).toEqual(initial.classes.map((c) => c.atc3))
    const probabilities = await page.locator('.combination-table .probability-value').allTextContents()
    expect(probabilities).toEqual(initial.classes.map((c) => percent(c.probability)))
    const statuses = await page.locator('.combination-table tbody td:nth-child(3)').allTextContents()
    expect(statuses).toEqual(initial.classes.map((c) => (c.status === 'new' ? 'New' : 'Already taking')))

    const meta = (await page.locator('.recommend-meta').textContent()) ?? ''
    expect(meta).toContain(initial.recommendation.model.id)
    expect(meta).toContain(initial.recommendation.model.family)
    expect(meta).toMatch(/on (CPU|NVIDIA CUDA|DirectML|Core ML)/)
    expect(meta).toMatch(/\d+(\.\d)? (ms|s) \(encode/)
    expect(meta).toMatch(/audit #\d+/)

    await screenshot(page, '10-recommend-interrupt')
  })

  it('interrupts for major interactions introduced by the recommendation until they are acknowledged', async () => {
    const interrupting = initial.ddiCheck!.warnings.filter((w, i) => w.tier === 'interrupt' && initial.warningScopes[i] === 'new')
    const banner = page.getByRole('alertdialog')
    await expect.poll(() => banner.isVisible()).toBe(true)
    expect(await banner.locator('.interrupt-item').count()).toBe(interrupting.length)
    const bannerText = (await banner.textContent()) ?? ''
    expect(bannerText).toContain(`${interrupting.length} major`)
    // Each warning names both drugs, its sources with license and the drug pairs behind it.
    const firstItem = banner.locator('.interrupt-item').first()
    await firstItem.locator('summary').click()
    const evidence = interrupting[0]!.evidence[0]!
    const itemText = (await firstItem.textContent()) ?? ''
    expect(itemText).toContain(evidence.source.name)
    expect(itemText).toContain(`License: ${evidence.source.license}`)
    if (evidence.members[0]) expect(itemText).toContain(evidence.members[0].a.name)
    await firstItem.locator('summary').click()

    // Everything behind the banner is inert: the class buttons cannot be reached or used.
    expect(await page.locator('.recommend-grid').getAttribute('inert')).not.toBeNull()
    const before = auditCount('warning-acknowledgement', patient.id)
    await banner.getByRole('button', { name: /acknowledge/ }).click()
    await expect.poll(() => page.locator('.interrupt-banner.is-acknowledged').count()).toBe(1)
    expect(await page.locator('.recommend-grid').getAttribute('inert')).toBeNull()
    expect(auditCount('warning-acknowledgement', patient.id)).toBe(before + 1)
    const entry = db
      .prepare(`SELECT outputs_json FROM audit_log WHERE kind = 'warning-acknowledgement' AND patient_id = ? ORDER BY id DESC LIMIT 1`)
      .get(patient.id) as { outputs_json: string }
    const stored = JSON.parse(entry.outputs_json) as { warnings: Array<{ key: string; severity: string; sources: string[] }> }
    expect(stored.warnings.map((w) => w.key).sort()).toEqual(
      initial.warningKeys.filter((_, i) => initial.ddiCheck!.warnings[i]!.tier === 'interrupt' && initial.warningScopes[i] === 'new').sort()
    )
    expect(stored.warnings.every((w) => w.sources.length > 0)).toBe(true)
    expect(await page.locator('.interrupt-banner.is-acknowledged > summary').textContent()).toMatch(/acknowledged by .+ \(audit #\d+\)/)

    // Member drugs of a class on focus (the tooltip shows on hover and on keyboard focus alike).
    const first = initial.classes[0]!
    await page.locator(`tr[data-atc3="${first.atc3}"] .class-name`).focus()
    const tip = page.locator(`#members-${first.atc3}`)
    await expect.poll(() => tip.isVisible()).toBe(true)
    const tipText = (await tip.textContent()) ?? ''
    expect(tipText).toContain(`${first.members.length} member drug`)
    for (const member of first.members.slice(0, 3)) expect(tipText).toContain(member.name)
    await screenshot(page, '11-recommend-acknowledged-members')
  })

  it('shows moderate warnings inline beside the class, minor ones collapsed, and the sources with what they do not cover', async () => {
    const check = initial.ddiCheck!
    const moderate = check.warnings.filter((w) => w.tier === 'inline')
    const combination = new Set(initial.recommendation.combination)
    // Warnings are between drugs: a row shows those that involve one of its class's drugs.
    const rowsWithModerate = initial.classes.filter((c) =>
      moderate.some((w) => c.drugs.some((d) => d.atc5 === check.drugs[w.a]?.input || d.atc5 === check.drugs[w.b]?.input))
    )
    expect(await page.locator('.combination-table .inline-warning').count()).toBe(rowsWithModerate.length)
    expect(rowsWithModerate.every((c) => combination.has(c.atc3))).toBe(true)

    const minor = check.warnings.filter((w) => w.tier === 'details')
    const minorPanel = page.locator('.details-panel', { hasText: 'Minor and unrated interactions' })
    expect(await minorPanel.getAttribute('open')).toBeNull()
    expect(await minorPanel.locator('summary').textContent()).toContain(`(${minor.length})`)

    const coverage = page.getByRole('region', { name: 'Interaction sources and coverage' })
    const coverageText = (await coverage.textContent()) ?? ''
    for (const source of check.checkedSources) {
      expect(coverageText).toContain(source.name)
      expect(coverageText).toContain(source.license)
    }
    expect(await coverage.locator('.coverage-not-safe').textContent()).toContain('The absence of a warning is not proof that a combination is safe.')
    if (check.notCovered.length > 0) expect(coverageText).toContain('Not covered by any complete source')
    // "safe" appears only in that denial.
    expect(coverageText.replaceAll('not proof that a combination is safe', '').toLowerCase()).not.toMatch(/\bsafe\b|\bno risk\b/)
    await page.locator('.recommend-main').evaluate((el) => el.scrollIntoView({ block: 'end' }))
    await screenshot(page, '12-recommend-tiers-and-sources')
  })

  it('explains a class: signed modality bars from the baseline to the probability, codes by title, the molecule', async () => {
    await page.locator('.patient-detail').evaluate((el) => el.scrollTo(0, 0))
    const target = initial.classes[0]!
    await page.locator(`#explain-${target.atc3}`).click()
    const panel = page.getByRole('complementary', { name: 'Explanation of the selected class' })
    await expect.poll(() => panel.locator('.waterfall').count(), { timeout: 60_000 }).toBe(1)
    const view = await callApi<{ explanation: { drugs: Array<{ probability: number; baseline: number; modalities: Array<{ label: string; shapley: number }>; codes: Array<{ title: string | null; contribution: number }> | null }>; modalities: unknown[] } }>(
      'explain:drug',
      { patientId: patient.id, atc3: target.atc3 }
    )
    const drug = view.explanation.drugs[0]!
    // Efficiency of exact Shapley values: the bars add up from the baseline to the probability.
    const sum = drug.baseline + drug.modalities.reduce((s, m) => s + m.shapley, 0)
    expect(Math.abs(sum - drug.probability)).toBeLessThan(1e-5)
    const modalityRows = panel.locator('.waterfall-table tbody tr[data-modality]')
    expect(await modalityRows.count()).toBe(drug.modalities.length)
    expect(await panel.locator('.waterfall-baseline .waterfall-number').textContent()).toBe(percent(drug.baseline))
    expect(await panel.locator('.waterfall-total .waterfall-number').textContent()).toBe(percent(drug.probability))
    const caption = (await panel.locator('.waterfall-sum').textContent()) ?? ''
    expect(caption).toContain(`= ${percent(drug.probability)}`)
    // The last bar ends where the total bar ends (both at the probability).
    type Box = { getBoundingClientRect(): { left: number; right: number; width: number } }
    const ends = await panel.locator('.waterfall-table tbody tr').evaluateAll((rows) =>
      rows.map((row) => {
        const bar = row.querySelector('.waterfall-bar') as unknown as Box | null
        const track = row.querySelector('.waterfall-track') as unknown as Box | null
        if (!bar || !track) return null
        const b = bar.getBoundingClientRect()
        const t = track.getBoundingClientRect()
        return { left: (b.left - t.left) / t.width, right: (b.right - t.left) / t.width }
      })
    )
    const lastStep = drug.modalities.at(-1)!
    const lastBar = ends[ends.length - 2]!
    const total = ends[ends.length - 1]!
    const lastEnd = lastStep.shapley >= 0 ? lastBar.right : lastBar.left
    if (Math.abs(lastStep.shapley) > 0.003) expect(Math.abs(lastEnd - total.right)).toBeLessThan(0.01)
    // Codes by title: the most influential code with a title is listed under its kind.
    const effective = (drug.codes ?? []).filter((c) => Math.abs(c.contribution) >= 0.0005 && c.title)
    if (effective[0]) expect((await panel.locator('.code-contributions').textContent()) ?? '').toContain(effective[0].title!)
    else expect((await panel.locator('.code-contributions').textContent()) ?? '').toContain('No single code changes the probability')
    // The molecule: an RDKit SVG shown as an image.
    const image = panel.locator('img.molecule-image')
    await expect.poll(() => image.count(), { timeout: 30_000 }).toBe(1)
    await expect.poll(() => image.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).complete && (img as unknown as { naturalWidth: number }).naturalWidth > 0)).toBe(true)
    expect(await image.getAttribute('src')).toMatch(/^data:image\/svg\+xml/)
    expect((await panel.locator('.molecule-panel .source-line').textContent()) ?? '').toMatch(/License: .*DrugBank/)
    await screenshot(page, '13-explanation')

    // Keyboard: ↓ from a class button selects and explains the next class.
    const second = initial.classes[1]
    if (second) {
      await page.locator(`#explain-${target.atc3}`).focus()
      await page.keyboard.press('ArrowDown')
      await expect.poll(() => page.locator(`#explain-${second.atc3}`).getAttribute('aria-pressed')).toBe('true')
      await expect.poll(() => panel.locator('.explain-title').textContent(), { timeout: 60_000 }).toContain(second.atc3)
      expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement?.id)).toBe(
        `explain-${second.atc3}`
      )
    }
  })

  it('a model shipping causal files (CafeMed) shows the causal weights of the current visit\'s codes, as the API lists them', async () => {
    const manifest = JSON.parse(readFileSync(join(models.directory, models.modelId, 'manifest.json'), 'utf8')) as { extraFiles?: Array<{ file: string }> }
    const causalModel = manifest.extraFiles?.some((f) => f.file === 'causal-weights.onnx') ?? false
    // The first recommended class with weighted codes (a class none of the visit's codes weighs on says so instead).
    let shown: { atc3: string; codes: string[] } | null = null
    for (const c of initial.classes.slice(0, 10)) {
      const view = await callApi<ExplanationView>('explain:drug', { patientId: patient.id, atc3: c.atc3 })
      const weights = view.explanation.drugs[0]?.causalWeights
      if (causalModel) expect(weights, `${c.atc3} has causal weights (maybe none listed)`).not.toBeNull()
      else expect(weights ?? null).toBeNull()
      const codes = [...(weights?.diagnoses ?? []), ...(weights?.procedures ?? [])].map((w) => w.code)
      if (codes.length > 0) {
        shown = { atc3: c.atc3, codes }
        break
      }
    }
    const panel = page.getByRole('complementary', { name: 'Explanation of the selected class' })
    const atc3 = shown?.atc3 ?? initial.classes[0]!.atc3
    await page.locator(`#explain-${atc3}`).click()
    await expect.poll(() => panel.locator('.explain-title').textContent(), { timeout: 60_000 }).toContain(atc3)
    await expect.poll(() => panel.locator('.waterfall').count(), { timeout: 60_000 }).toBe(1)
    expect(await panel.getByRole('heading', { name: 'Causal weights (CafeMed)' }).count()).toBe(causalModel ? 1 : 0)
    if (!causalModel) return
    await expect.poll(() => panel.locator(`.causal-weights[data-atc3="${atc3}"]`).count(), { timeout: 60_000 }).toBe(1)
    const rows = await panel.locator('.causal-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-code')))
    expect(rows).toEqual(shown?.codes ?? [])
    await panel.locator('.causal-weights').evaluate((el) => el.scrollIntoView({ block: 'start' }))
    await screenshot(page, '13b-explanation-causal-weights')
    await expectNoSeriousAxeViolations('causal weights')
    await panel.evaluate((el) => el.scrollTo(0, 0))
  })

  it('the threshold control re-runs the recommendation', async () => {
    const slider = page.getByLabel('Threshold')
    const model = initial.recommendation.threshold
    const raised = Math.min(0.95, Math.round((model + 0.1) * 100) / 100)
    await slider.focus()
    for (let value = Math.round(model * 100); value < Math.round(raised * 100); value++) await page.keyboard.press('ArrowRight')
    const expected = initial.recommendation.drugs.filter((d) => d.probability >= raised && initial.recommendation.combination.includes(d.atc3)).length
    await expect.poll(() => page.locator('.threshold-value').textContent()).toBe(percent(raised, 0))
    await expect.poll(() => page.locator('.recommend-meta').textContent(), { timeout: 30_000 }).toContain(`threshold ${percent(raised, 0)}`)
    const shown = await page.locator('.combination-table tbody tr').count()
    // DDI-safe decoding may drop differently at another threshold, so it is at most the plain count.
    expect(shown).toBeLessThanOrEqual(initial.recommendation.drugs.filter((d) => d.probability >= raised).length)
    expect(shown).toBeGreaterThanOrEqual(Math.min(expected, 1))
    const probabilities = (await page.locator('.combination-table .probability-value').allTextContents()).map((t) => Number.parseFloat(t) / 100)
    expect(probabilities.every((p) => p >= raised - 0.0005)).toBe(true)
    await page.getByRole('button', { name: /Use the model’s own threshold/ }).click()
    await expect.poll(() => page.locator('.recommend-meta').textContent(), { timeout: 30_000 }).toContain(`threshold ${percent(model, 0)}`)
  })

  it('a guaranteed miss rate replaces the threshold with the model\'s conformal one and says under which assumption', async () => {
    const expected = await callApi<RecommendationView>('recommend:run', {
      patientId: patient.id,
      missRate: 0.1,
      ddiSafe: initial.recommendation.ddi.safeDecoding
    })
    expect(expected.recommendation.missRate?.alpha).toBe(0.1)
    await page.getByLabel('Miss at most').selectOption('0.1')
    await expect.poll(() => page.locator('.recommend-meta').textContent(), { timeout: 30_000 }).toContain('from a miss rate ≤ 10%')
    const meta = (await page.locator('.recommend-meta').textContent()) ?? ''
    expect(meta).toContain(`threshold ${percent(expected.recommendation.threshold, 0)}`)
    expect(meta).toContain('exchangeable')
    expect(await page.getByLabel('Threshold').isDisabled()).toBe(true)
    expect(await page.locator('#miss-rate-guarantee').textContent()).toContain('at most 10% of the classes that will be prescribed')
    expect(await page.locator('.combination-table tbody tr').count()).toBe(expected.classes.length)
    await screenshot(page, '13c-recommend-miss-rate')
    // Asking for both is refused, naming the field.
    const both = await callApi<unknown>('recommend:run', { patientId: patient.id, threshold: 0.5, missRate: 0.1 }).catch((error: unknown) => error)
    expect(String(both)).toMatch(/miss rate, not both/)
    await page.getByLabel('Miss at most').selectOption('')
    await expect.poll(() => page.locator('.recommend-meta').textContent(), { timeout: 30_000 }).not.toContain('from a miss rate')
  })

  it('pharmacist review: picks drugs by name and code, flags them, requires decisions, records overrides in the audit log', async () => {
    await page.getByRole('tab', { name: 'Pharmacist review' }).click()
    await expect.poll(() => page.locator('.review-history').textContent()).toContain('No review has been recorded for this patient.')
    const picker = page.getByRole('combobox', { name: /Add a drug/ })
    // By name: warfarin; by alias: an NSAID by its name; by ATC code: paracetamol.
    await picker.fill('warfar')
    await expect.poll(() => page.locator('.drug-option').first().textContent()).toContain('warfarin')
    await picker.press('Enter')
    await picker.fill('ibuprofen')
    await expect.poll(() => page.locator('.drug-option', { hasText: 'M01AE01' }).count()).toBe(1)
    const ibuprofenIndex = await page.locator('.drug-option').evaluateAll((nodes) => nodes.findIndex((n) => n.textContent?.includes('M01AE01')))
    for (let i = 0; i < ibuprofenIndex; i++) await picker.press('ArrowDown')
    await picker.press('Enter')
    await picker.fill('N02BE01')
    await expect.poll(() => page.locator('.drug-option').first().textContent()).toContain('N02BE01')
    await page.locator('.drug-option').first().click()
    expect(await page.locator('.proposed-chips .chip code').allTextContents()).toEqual(['B01AA03', 'M01AE01', 'N02BE01'])

    const check = await callApi<ReviewCheck>('review:check', { patientId: patient.id, proposed: ['B01AA03', 'M01AE01', 'N02BE01'] })
    await expect.poll(() => page.locator('.assessment-table tbody tr').count(), { timeout: 60_000 }).toBe(3)
    await expect.poll(() => page.locator('.progress').count()).toBe(0)
    await screenshot(page, '14-review-checked')
    const flags = await page.locator('.assessment-table tbody tr .flag').allTextContents()
    const FLAG_TEXT: Record<string, string> = {
      expected: 'Expected',
      possible: 'Possible',
      unusual: 'Unusual for this patient',
      'not-in-model': 'Not scored (class not in the model)',
      'no-model': 'No model score'
    }
    expect(flags).toEqual(check.proposed.map((p) => FLAG_TEXT[p.flag]))
    const required = check.warnings.filter((w) => w.decisionRequired)
    expect(required.some((w) => w.key === 'B01AA03 + M01AE01' && w.tier === 'interrupt')).toBe(true)
    await expect.poll(() => page.locator('.warning-card').count()).toBe(required.length)

    // Recording is blocked until every major and moderate warning has a decision.
    const record = page.getByRole('button', { name: 'Record review' })
    expect(await record.isDisabled()).toBe(true)
    expect(await page.locator('#record-blocked').textContent()).toContain(`${required.length} warning`)

    const majors = required.filter((w) => w.tier === 'interrupt')
    for (const [index, warning] of majors.entries()) {
      const card = page.locator(`.warning-card[data-warning-key="${warning.key}"]`)
      if (index === 0) {
        await card.getByLabel('Accept — the prescription will be changed').check()
      } else if (warning.key === 'B01AA03 + M01AE01') {
        await card.getByLabel('Override', { exact: true }).check()
        await card.getByLabel(/Override reason/).selectOption('other')
        await card.getByLabel(/Explain the override/).fill('INR checked daily on the ward')
      } else {
        await card.getByLabel('Override', { exact: true }).check()
        await card.getByLabel(/Override reason/).selectOption('previously-tolerated')
      }
    }
    const moderateCount = required.filter((w) => w.tier === 'inline').length
    if (moderateCount > 1) await page.getByRole('button', { name: /Mark the \d+ undecided moderate warnings/ }).click()
    else if (moderateCount === 1) {
      const card = page.locator('.warning-card.tier-inline').first()
      await card.getByLabel('Override', { exact: true }).check()
      await card.getByLabel(/Override reason/).selectOption('will-monitor')
    }
    await page.getByLabel('Note (optional)').fill('Discussed with the ward team.')
    await expect.poll(() => record.isDisabled()).toBe(false)
    await page.locator('.review-warnings').evaluate((el) => el.scrollIntoView({ block: 'start' }))
    await screenshot(page, '15-review-decisions')
    await record.scrollIntoViewIfNeeded()
    await screenshot(page, '15b-review-ready-to-record')

    const before = auditCount('review', patient.id)
    await record.click()
    await expect.poll(() => page.locator('.saved-note').textContent(), { timeout: 30_000 }).toMatch(/Review recorded: .* \(audit #\d+/)
    expect(auditCount('review', patient.id)).toBe(before + 1)
    const row = db
      .prepare(`SELECT outputs_json, user_name FROM audit_log WHERE kind = 'review' AND patient_id = ? ORDER BY id DESC LIMIT 1`)
      .get(patient.id) as { outputs_json: string; user_name: string }
    const stored = JSON.parse(row.outputs_json) as {
      record: { outcome: string; note: string; decisions: Array<{ warningKey: string; action: string; reason?: string; reasonText?: string; sources: string[] }> }
    }
    expect(stored.record.decisions).toHaveLength(required.length)
    expect(stored.record.outcome).toBe(majors.length > 0 ? 'changes-required' : 'approved-with-overrides')
    expect(stored.record.note).toBe('Discussed with the ward team.')
    const warfarinNsaid = stored.record.decisions.find((d) => d.warningKey === 'B01AA03 + M01AE01')!
    if (majors[0]?.key !== 'B01AA03 + M01AE01') expect(warfarinNsaid).toMatchObject({ action: 'override', reason: 'other', reasonText: 'INR checked daily on the ward' })
    expect(warfarinNsaid.sources.length).toBeGreaterThan(0)

    // The history shows it, most recent first.
    await expect.poll(() => page.locator('.history-item').count()).toBe(1)
    const historyText = (await page.locator('.history-item').first().textContent()) ?? ''
    expect(historyText).toContain(row.user_name)
    expect(historyText).toContain('Warfarin (B01AA03)')
    await page.locator('.review-history').scrollIntoViewIfNeeded()
    await screenshot(page, '16-review-history')
  })

  it('the API refuses an override without a reason and a decision on an unknown warning, naming the problem', async () => {
    const noReason = await callApi<unknown>('review:submit', {
      patientId: patient.id,
      proposed: ['B01AA03'],
      decisions: [{ warningKey: 'X + Y', action: 'override' }]
    }).then(
      () => 'resolved',
      (error: Error) => error.message
    )
    expect(noReason).toContain('[invalid]')
    expect(noReason).toContain('argument 1 (decisions.0.reason): an override needs a reason')
    const unknownKey = await callApi<unknown>('review:submit', {
      patientId: patient.id,
      proposed: ['B01AA03', 'M01AE01'],
      decisions: [{ warningKey: 'A01AA01 + Z99ZZ99', action: 'accept' }]
    }).then(
      () => 'resolved',
      (error: Error) => error.message
    )
    expect(unknownKey).toContain('[invalid] Decision for "A01AA01 + Z99ZZ99", which is not a warning of this prescription')
  })

  it('model card: family, paper, metrics with confidence intervals, threshold, modalities, provider, licenses', async () => {
    await page.getByRole('button', { name: 'Models', exact: true }).click()
    const card = page.locator('.model-card')
    await expect.poll(() => card.count(), { timeout: 60_000 }).toBe(1)
    const manifest = JSON.parse(readFileSync(join(models.directory, models.modelId, 'manifest.json'), 'utf8')) as {
      id: string
      family: string
      paper: { title: string }
      threshold: number
      modalities: Array<{ label: string }>
      provenance: { sources: Array<{ name: string; license: string }> }
      metricsFile: string
    }
    const text = (await card.textContent()) ?? ''
    expect(await card.locator('h1').textContent()).toContain(manifest.id)
    expect(text).toContain(manifest.family)
    expect(text).toContain(manifest.paper.title)
    expect(text).toContain(percent(manifest.threshold, 0))
    for (const modality of manifest.modalities) expect(text).toContain(modality.label)
    for (const source of manifest.provenance.sources) {
      expect(text).toContain(source.name)
      expect(text).toContain(source.license)
    }
    expect(text).toMatch(/Execution provider(CPU|NVIDIA CUDA|DirectML|Core ML)/)
    const metrics = JSON.parse(readFileSync(join(models.directory, models.modelId, manifest.metricsFile), 'utf8')) as {
      crossValidation?: { summary?: Record<string, { mean: number; ci95: [number, number] | null }> }
    }
    const jaccard = metrics.crossValidation?.summary?.jaccard
    if (jaccard) {
      const row = card.locator('.metric-table').first().locator('tr[data-metric="jaccard"]')
      expect(await row.locator('td').first().textContent()).toBe(jaccard.mean.toFixed(3))
      if (jaccard.ci95) expect(await row.locator('td').nth(1).textContent()).toBe(`${jaccard.ci95[0].toFixed(3)} – ${jaccard.ci95[1].toFixed(3)}`)
    } else {
      expect(text).toContain('No evaluation')
    }
    await screenshot(page, '17-model-card')
    await expectNoSeriousAxeViolations('model card')
  })

  it('with NLA-MMR active, codes new to the model count through their titles and the recommendation says so', async () => {
    if (!existsSync(join(models.directory, 'nla-mmr', 'manifest.json'))) {
      console.warn('[e2e] no nla-mmr model folder beside the workspace model: cold-start note not checked')
      return
    }
    await callApi('settings:update', { activeModelId: 'nla-mmr' })
    try {
      // A MIMIC-IV patient whose current visit has codes NLA-MMR never saw but that have titles, found through the API.
      const mimic = db.prepare(`SELECT id, source_patient_id AS sourcePatientId FROM patients WHERE source = 'mimic-iv' ORDER BY id LIMIT 40`).all() as Array<{ id: number; sourcePatientId: string }>
      let found: { sourcePatientId: string; embedded: string[]; unknown: number } | null = null
      for (const candidate of mimic) {
        const result = await callApi<RecommendationView>('recommend:run', { patientId: candidate.id, modelId: 'nla-mmr' })
        const coldStart = result.recommendation.input.coldStart
        if (coldStart && coldStart.embedded.length > 0) {
          found = { sourcePatientId: candidate.sourcePatientId, embedded: coldStart.embedded.map((c) => c.code), unknown: coldStart.unknown.length }
          break
        }
      }
      expect(found, 'no demo patient among the first 40 MIMIC-IV patients has a titled code new to NLA-MMR').not.toBeNull()
      await openPatient(found!.sourcePatientId)
      await page.getByRole('tab', { name: 'Recommend' }).click()
      const note = page.locator('.cold-start-note')
      await expect.poll(() => note.count(), { timeout: 60_000 }).toBe(1)
      const text = (await note.textContent()) ?? ''
      const n = found!.embedded.length
      expect(text).toContain(`Cold start: ${n} code${n === 1 ? '' : 's'} new to the model counted through`)
      for (const code of found!.embedded) expect(text).toContain(code)
      expect(await page.locator('.recommend-meta').first().textContent()).toContain('nla-mmr')
      await screenshot(page, '17b-recommend-cold-start-nla-mmr')
    } finally {
      await callApi('settings:update', { activeModelId: null })
    }
  })

  it('settings persist across a reload and become the recommendation defaults', async () => {
    await page.getByRole('button', { name: 'Settings', exact: true }).click()
    await expect.poll(() => page.getByLabel('Execution provider').count()).toBe(1)
    await page.getByLabel('Execution provider').selectOption('cpu')
    await page.getByLabel(/Use each model’s own threshold/).uncheck()
    await page.getByLabel('Threshold for every model').fill('0.4')
    await page.getByLabel('Never co-recommend two classes interacting at').selectOption('Major')
    await page.getByLabel('Maximum DDI rate').selectOption('0.3')
    await screenshot(page, '18-settings')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await expect.poll(() => page.locator('.settings-view .saved-note').count()).toBe(1)
    const stored = Object.fromEntries(
      (db.prepare(`SELECT key, value FROM settings WHERE key LIKE 'workspace.%'`).all() as Array<{ key: string; value: string }>).map((r) => [r.key, r.value])
    )
    expect(stored).toMatchObject({ 'workspace.provider-preference': 'cpu', 'workspace.threshold-override': '0.4' })
    expect(JSON.parse(stored['workspace.ddi-safe']!)).toEqual({ enabled: true, blockSeverity: 'Major', maxDdiRate: 0.3 })
    await expectNoSeriousAxeViolations('settings')

    await page.reload()
    await page.getByRole('button', { name: 'Settings', exact: true }).click()
    await expect.poll(() => page.getByLabel('Threshold for every model').inputValue()).toBe('0.4')
    expect(await page.getByLabel('Execution provider').inputValue()).toBe('cpu')
    expect(await page.getByLabel('Never co-recommend two classes interacting at').inputValue()).toBe('Major')

    await openPatient(patient.sourcePatientId)
    await page.getByRole('tab', { name: 'Recommend' }).click()
    await expect.poll(() => page.locator('.recommend-meta').textContent(), { timeout: 60_000 }).toContain('threshold 40%')
    expect(await page.locator('#block-severity').inputValue()).toBe('Major')
    expect(await page.locator('#max-ddi-rate').inputValue()).toBe('0.3')
    expect(await page.locator('.recommend-meta').textContent()).toContain('on CPU')
    await screenshot(page, '19-recommend-with-saved-settings')

    // Back to the defaults for the tests that follow.
    await callApi('settings:update', { providerPreference: 'auto', thresholdOverride: null, ddiSafe: { enabled: true, blockSeverity: 'Contraindicated', maxDdiRate: null } })
  })

  it('shows clear error and empty states, and recovers', async () => {
    // A patient without any code: the model has nothing to read.
    const empty = db
      .prepare(
        `SELECT p.source_patient_id AS sid FROM patients p WHERE NOT EXISTS (
           SELECT 1 FROM visits v WHERE v.patient_id = p.id AND (
             EXISTS (SELECT 1 FROM diagnoses d WHERE d.visit_id = v.id) OR EXISTS (SELECT 1 FROM procedures r WHERE r.visit_id = v.id)
             OR EXISTS (SELECT 1 FROM medications m WHERE m.visit_id = v.id AND m.atc3 IS NOT NULL)))
         ORDER BY p.id LIMIT 1`
      )
      .get() as { sid: string } | undefined
    if (empty) {
      await page.reload()
      await openPatient(empty.sid)
      await page.getByRole('tab', { name: 'Recommend' }).click()
      await expect.poll(() => page.getByRole('alert').first().textContent(), { timeout: 60_000 }).toContain('No recommendation could be made for this patient.')
      expect(await page.getByRole('alert').first().textContent()).toMatch(/no diagnosis, procedure or medication codes|has no visits/)
      await screenshot(page, '20-recommend-empty-history')
    }

    await page.reload()
    await openPatient(patient.sourcePatientId)
    await page.getByRole('tab', { name: 'Recommend' }).click()
    await expect.poll(() => page.locator('.combination-table').count(), { timeout: 60_000 }).toBe(1)
    host.breakDatabase()
    try {
      await page.getByRole('button', { name: 'Run again' }).click()
      await expect.poll(() => page.getByRole('alert').first().textContent(), { timeout: 30_000 }).toContain('No recommendation could be made for this patient.')
      expect(await page.getByRole('alert').first().textContent()).toContain('recommend:run failed')
      await screenshot(page, '21-recommend-error')
    } finally {
      host.restoreDatabase()
    }
    await page.getByRole('button', { name: 'Try again' }).click()
    await expect.poll(() => page.locator('.combination-table').count(), { timeout: 60_000 }).toBe(1)
  })

  it('has no serious or critical accessibility violations on the recommendation and review screens', async () => {
    // The recommendation after acknowledgement, with the explanation loaded.
    const banner = page.getByRole('alertdialog')
    if ((await banner.count()) > 0) await banner.getByRole('button', { name: /acknowledge/ }).click()
    await expect.poll(() => page.locator('.waterfall').count(), { timeout: 60_000 }).toBe(1)
    await expect.poll(() => page.locator('img.molecule-image').count(), { timeout: 30_000 }).toBe(1)
    await expectNoSeriousAxeViolations('recommend')
    await page.getByRole('tab', { name: 'Pharmacist review' }).click()
    await expect.poll(() => page.locator('.history-item').count()).toBeGreaterThan(0)
    await expectNoSeriousAxeViolations('review')
    await page.getByRole('button', { name: 'About', exact: true }).click()
    await expectNoSeriousAxeViolations('about')
  })

  it('raised no uncaught errors in the page', () => {
    expect(pageErrors).toEqual([])
    expect(failedRequests).toEqual([])
  })
})
