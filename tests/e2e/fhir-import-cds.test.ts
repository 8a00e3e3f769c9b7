// The app's FHIR import screen and the CDS Hooks pilot in Settings, in the built renderer (headless
// Chromium, the e2e test host standing in for Electron), on an empty patient database:
//  - Import: a bad path gets the importer's reason; three Synthea bundles are previewed (counts, skipped
//    types, plan; nothing written), imported (result counts), then listed under Patients; the same files
//    again are "already imported".
//  - Settings: the CDS Hooks service starts on loopback, answers discovery and a patient-view call from
//    this test, shows its address and status, and stops.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/main/services/db/database'
import { dataDir } from '../../src/main/services/paths'
import { type Browser, launchBrowser, screenshot } from './browser'
import { buildApp, startTestHost, type BuiltApp, type TestHost } from './host'
import { knowledgeBasePath, seriousAxeViolations } from './workspace-setup'

const SYNTHEA = join(dataDir(), 'ehr', 'synthea-r4-sample', 'bundles')
/** A Synthea patient on warfarin, furosemide and simvastatin among others: drug-level warnings expected. */
const WARFARIN_PATIENT = { file: 'Parker_Casper_6d0c6969-6843-47e1-9921-d9bf11b1df31.json.gz', id: 'ec6a274e-5090-45c9-b153-e40418f6fa3d' }

const freePort = (): Promise<number> =>
  new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolvePort(port))
    })
  })

describe('FHIR import screen and CDS Hooks pilot', () => {
  let dir: string
  let exportDir: string
  let app: BuiltApp
  let host: TestHost
  let browser: Browser
  let page: Page
  const pageErrors: string[] = []

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-e2e-fhir-'))
    exportDir = join(dir, 'export')
    mkdirSync(exportDir)
    for (const file of [...readdirSync(SYNTHEA).sort().slice(0, 2), WARFARIN_PATIENT.file]) copyFileSync(join(SYNTHEA, file), join(exportDir, file))
    const databasePath = join(dir, 'medrec.sqlite')
    openDatabase(databasePath).close() // an empty patient database, as a hospital starts
    app = await buildApp()
    host = await startTestHost(app, { databasePath, readonly: false, knowledgeBasePath: knowledgeBasePath() })
    browser = await launchBrowser()
    page = await browser.context.newPage()
    page.on('pageerror', (error) => pageErrors.push(error.message))
    await page.goto(host.url)
  })

  afterAll(async () => {
    await browser?.close()
    await host?.close()
    app?.remove()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('previews a FHIR folder with counts and a plan, imports it, and refuses a bad path with the reason', async () => {
    await page.getByRole('button', { name: 'Import', exact: true }).click()
    const path = page.getByLabel('Folder or file on this computer')
    await path.fill(join(dir, 'no-such-folder'))
    await page.getByRole('button', { name: 'Preview import' }).click()
    await expect.poll(() => page.locator('.import-view .form-error').textContent(), { timeout: 30_000 }).toContain('does not exist')

    await path.fill(exportDir)
    await page.getByRole('button', { name: 'Preview import' }).click()
    const preview = page.locator('section.import-preview')
    await preview.waitFor({ timeout: 60_000 })
    const summary = await preview.locator('table.import-summary').textContent()
    expect(summary).toMatch(/Patients\s*3/)
    expect(summary).toMatch(/Rejected resources\s*0/)
    // Every Synthea patient has a birthDate: every encounter gets an age.
    const visits = /Visits \(encounters\)\s*([\d,]+)/.exec(summary ?? '')?.[1]
    expect(summary).toMatch(new RegExp(`Visits with an age at the visit\\s*${visits}`))
    // Types MedRec does not read are counted and marked skipped.
    expect(await preview.locator('table.import-read tr', { hasText: 'Observation' }).textContent()).toContain('skipped')
    expect(await preview.locator('table.import-plan tr', { hasText: 'patients' }).textContent()).toMatch(/patients\s*0\s*3\s*3\s*0\s*0/)
    // Nothing written by the preview.
    expect(await page.evaluate(`window.api['patients:list']({ offset: 0, limit: 10 }).then((p) => p.total)`)).toBe(0)
    expect(await seriousAxeViolations(page)).toEqual([])

    await preview.getByRole('button', { name: 'Import' }).click()
    const result = page.locator('section.import-result')
    await result.waitFor({ timeout: 60_000 })
    expect(await result.getByRole('heading').textContent()).toBe('Imported')
    expect(await result.locator('table.import-summary').textContent()).toMatch(/Patients\s*3/)
    await screenshot(page, 'fhir-import')

    await page.getByRole('button', { name: 'Patients', exact: true }).click()
    await expect.poll(() => page.locator('.patient-option').count(), { timeout: 30_000 }).toBeGreaterThanOrEqual(3)

    // The imported patient gets a drug-level recommendation with graded interaction warnings.
    await page.getByLabel('Find patient').fill(WARFARIN_PATIENT.id)
    await page.locator('[role=option]', { hasText: WARFARIN_PATIENT.id }).first().click()
    await page.getByRole('tab', { name: 'Recommend' }).click()
    await expect.poll(() => page.locator('.combination-table tbody tr').count(), { timeout: 90_000 }).toBeGreaterThan(0)
    expect(await page.locator('.class-drug[data-atc5="B01AA03"]').count()).toBeGreaterThan(0) // warfarin, taken before
    await expect.poll(async () => (await page.locator('.inline-warning-list, .warning-list').allTextContents()).join(' '), { timeout: 30_000 }).toMatch(/Warfarin/i)
    await screenshot(page, 'fhir-patient-recommendation')

    // The same files again change nothing.
    await page.getByRole('button', { name: 'Import', exact: true }).click()
    await page.getByLabel('Folder or file on this computer').fill(exportDir)
    await page.getByRole('button', { name: 'Preview import' }).click()
    await expect.poll(() => page.locator('section.import-preview h2').textContent(), { timeout: 60_000 }).toBe('Already imported')
    expect(pageErrors).toEqual([])
  })

  it('starts the CDS Hooks service from Settings on loopback, which answers the EHR, and stops it', async () => {
    const port = await freePort()
    await page.getByRole('button', { name: 'Settings', exact: true }).click()
    const panel = page.locator('section.cds-service-panel')
    await panel.waitFor({ timeout: 30_000 })
    expect(await panel.getByLabel('Address').inputValue()).toBe('127.0.0.1')
    await expect.poll(() => panel.getByRole('status').textContent(), { timeout: 30_000 }).toBe('Stopped')
    // No trusted issuers: only loopback is allowed.
    await panel.getByLabel('Address').fill('0.0.0.0')
    await panel.getByLabel('Port').fill(String(port))
    await panel.getByRole('button', { name: 'Start service' }).click()
    await expect.poll(() => panel.locator('.form-error').textContent(), { timeout: 30_000 }).toContain('loopback')

    await panel.getByLabel('Address').fill('127.0.0.1')
    await panel.getByRole('button', { name: 'Start service' }).click()
    const address = `http://127.0.0.1:${port}`
    await expect.poll(() => panel.getByRole('status').textContent(), { timeout: 30_000 }).toContain(`Running on ${address}`)
    expect(await panel.textContent()).toContain(`${address}/cds-services`)
    expect(await seriousAxeViolations(page)).toEqual([])
    await screenshot(page, 'cds-hooks-pilot')

    // The EHR's side: discovery, then a patient-view call for an imported patient (read from the store).
    const discovery = (await (await fetch(`${address}/cds-services`)).json()) as { services: Array<{ id: string }> }
    expect(discovery.services.map((s) => s.id)).toEqual(expect.arrayContaining(['medrec-patient-view', 'medrec-order-sign']))
    const patientId = (await page.evaluate(`window.api['patients:list']({ offset: 0, limit: 1 }).then((p) => p.patients[0].sourcePatientId)`)) as string
    const call = await fetch(`${address}/cds-services/medrec-patient-view`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hook: 'patient-view', hookInstance: 'e2e-1', context: { userId: 'Practitioner/e2e', patientId } })
    })
    expect(call.status).toBe(200)
    expect(Array.isArray(((await call.json()) as { cards: unknown[] }).cards)).toBe(true)

    await panel.getByRole('button', { name: 'Stop service' }).click()
    await expect.poll(() => panel.getByRole('status').textContent(), { timeout: 30_000 }).toBe('Stopped')
    await expect(fetch(`${address}/cds-services`)).rejects.toThrow()
    expect(pageErrors).toEqual([])
  })
})
