// The Models view's "Evaluate on this database" panel in the built renderer (headless Chromium, the e2e
// test host standing in for Electron): the button starts a job, a determinate progress bar moves, and the
// model's figures appear beside the two baselines, at class and drug level, with no page error and no serious axe violation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { type Browser, launchBrowser, screenshot } from './browser'
import { testDatabase, type TestDatabase } from './demo-database'
import { buildApp, startTestHost, type BuiltApp, type TestHost } from './host'
import { knowledgeBasePath, seriousAxeViolations } from './workspace-setup'

describe('Evaluate on this database (Models view)', () => {
  let database: TestDatabase
  let app: BuiltApp
  let host: TestHost
  let browser: Browser
  let page: Page
  const pageErrors: string[] = []

  beforeAll(async () => {
    database = await testDatabase()
    app = await buildApp()
    // Read-only: evaluating never writes to the patient database.
    host = await startTestHost(app, { databasePath: database.path, knowledgeBasePath: knowledgeBasePath() })
    browser = await launchBrowser()
    page = await browser.context.newPage()
    page.on('pageerror', (error) => pageErrors.push(error.message))
    await page.goto(host.url)
  })

  afterAll(async () => {
    await browser?.close()
    await host?.close()
    app?.remove()
    database?.remove()
  })

  it('runs an evaluation with a progress bar and shows the model beside the baselines', async () => {
    await page.getByRole('button', { name: 'Models', exact: true }).click()
    const panel = page.locator('section.evaluate-panel')
    await expect.poll(() => panel.count(), { timeout: 60_000 }).toBe(1)
    await panel.getByRole('button', { name: 'Evaluate on this database' }).click()
    const bar = panel.getByRole('progressbar', { name: 'Evaluation progress' })
    await bar.waitFor({ timeout: 30_000 })
    const table = panel.locator('table.evaluate-table')
    await table.waitFor({ timeout: 120_000 })
    const rows = await table.locator('tbody tr').allTextContents()
    expect(rows).toHaveLength(3)
    expect(rows[1]).toContain('Most frequent classes (leave-patient-out)')
    expect(rows[2]).toContain("Repeat the previous visit's classes")
    // Every cell shows a value with its interval.
    expect(await table.locator('tbody td').first().textContent()).toMatch(/^0\.\d{3} \(0\.\d{3}–0\.\d{3}\)$/)
    // At drug level: the model and "repeat the previous visit's drugs", with the Major+ DDI share from the knowledge base.
    const drugRows = await panel.locator('table.evaluate-drug-table tbody tr').allTextContents()
    expect(drugRows).toHaveLength(2)
    expect(drugRows[1]).toContain("Repeat the previous visit's drugs")
    expect(await panel.locator('table.evaluate-drug-table thead').textContent()).toContain('Major+ DDI share')
    expect(await panel.locator('table.evaluate-drug-table tbody td').first().textContent()).toMatch(/^0\.\d{3} \(0\.\d{3}–0\.\d{3}\)$/)
    expect(await panel.textContent()).toContain('database fingerprint')
    expect(await panel.getByRole('button', { name: 'Evaluate again' }).isEnabled()).toBe(true)
    expect(await seriousAxeViolations(page)).toEqual([])
    await panel.scrollIntoViewIfNeeded()
    await screenshot(page, 'evaluate-panel')
    expect(pageErrors).toEqual([])
  })
})
