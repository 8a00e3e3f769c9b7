// The `medrec evaluate --out` report opened from disk in headless Chromium: it loads nothing from the
// network (nor anything else beside itself), logs no console error, passes axe-core with no violation at
// any impact, and prints. Screenshot and PDF go to test-artifacts/e2e/.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/main/services/db/database'
import { evaluateDatabase } from '../../src/main/services/evaluate/evaluate'
import { renderReportHtml } from '../../src/main/services/evaluate/report-html'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { modelsDir, defaultKnowledgeBasePath } from '../../src/main/services/paths'
import { type Browser, launchBrowser, screenshot, SCREENSHOT_DIR } from './browser'
import { testDatabase, type TestDatabase } from './demo-database'

describe('evaluation report in headless Chromium', () => {
  let database: TestDatabase
  let browser: Browser
  let dir: string
  let reportPath: string

  beforeAll(async () => {
    database = await testDatabase()
    const db = openDatabase(database.path, { readonly: true })
    const registry = new ModelRegistry(modelsDir())
    try {
      const { models } = await registry.scan()
      // Two models so the report's multi-model parts are rendered too.
      const report = await evaluateDatabase(
        { db, databasePath: database.path, registry, knowledgeBasePath: defaultKnowledgeBasePath() },
        { modelIds: models.slice(0, 2).map((m) => m.manifest.id), bootstrap: { replicates: 100 } }
      )
      dir = mkdtempSync(join(tmpdir(), 'medrec-report-'))
      reportPath = join(dir, 'report.html')
      writeFileSync(reportPath, renderReportHtml(report))
    } finally {
      await registry.close()
      db.close()
    }
    browser = await launchBrowser()
  })

  afterAll(async () => {
    await browser?.close()
    database?.remove()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('opens offline with no console error, no outside request, no axe violation, and prints', async () => {
    const html = readFileSync(reportPath, 'utf8')
    expect(html).not.toMatch(/<script|<link|https?:\/\/(?!www\.w3\.org\/2000\/svg)/i)
    const page = await browser.context.newPage()
    const consoleErrors: string[] = []
    const requests: string[] = []
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') consoleErrors.push(message.text())
    })
    page.on('pageerror', (error) => consoleErrors.push(error.message))
    page.on('request', (request) => requests.push(request.url()))
    const url = pathToFileURL(reportPath).href
    await page.goto(url)
    await page.waitForLoadState('load')

    expect(await page.locator('h1').textContent()).toContain('evaluation')
    expect(await page.locator('svg[role="img"]').count()).toBeGreaterThanOrEqual(3)
    expect(await page.locator('section.model').count()).toBeGreaterThanOrEqual(1)
    expect(requests).toEqual([url])

    await page.evaluate(readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8'))
    const violations = (await page.evaluate(`
      window.axe.run(document, { resultTypes: ['violations'], runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
        .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })))
    `)) as unknown[]
    expect(violations).toEqual([])

    await screenshot(page, 'evaluate-report')
    await page.emulateMedia({ media: 'print' })
    const pdf = await page.pdf({ path: join(SCREENSHOT_DIR, 'evaluate-report.pdf'), format: 'A4' })
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-')
    expect(consoleErrors).toEqual([])
    await page.close()
  })
})
