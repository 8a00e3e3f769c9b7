// The renderer in headless Chromium against the real services behind the e2e host: patient list,
// search, keyboard navigation, paging, timeline, error states, About, and the CSP.
import { API_METHODS } from '../../src/shared/api/methods'
import { type MedrecApi } from '../../src/shared/api'
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { gzipSync } from 'node:zlib'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { csvWorkerEntry, unpackBatch, type CsvWorkerMessage, type CsvWorkerRequest } from '../../src/main/services/imports/csv-off-thread'
import { DATA_ATTRIBUTIONS } from '../../src/shared/domain/attributions'
import { formatAge, TIMELINE_PAGE_VISITS } from '../../src/shared/domain/patient'
import { launchBrowser, screenshot, type Browser } from './browser'
import { testDatabase, type TestDatabase } from './demo-database'
import { buildApp, startTestHost, type BuiltApp, type TestHost } from './host'

const PAGE_SIZE = 50

/** The page's globals as the page.evaluate callbacks use them (tests compile without DOM types). */
interface PageGlobals {
  api: MedrecApi
  document: {
    activeElement: { getAttribute(name: string): string | null } | null
    createElement(tag: 'script'): { textContent: string | null }
    head: { append(node: unknown): void }
  }
  __inlineRan?: boolean
  require?: unknown
}

interface TargetPatient {
  id: number
  sourcePatientId: string
  visits: { sourceVisitId: string; admitTime: string | null }[]
}

/** A MIMIC-IV patient with several dated visits, preferring one whose visit ids are not in time order. */
function pickTargetPatient(db: Db): TargetPatient {
  const candidates = db
    .prepare(
      `SELECT p.id, p.source_patient_id AS sourcePatientId FROM patients p
       WHERE p.source = 'mimic-iv'
         AND (SELECT count(*) FROM visits v WHERE v.patient_id = p.id AND v.admit_time IS NOT NULL) >= 2
         AND EXISTS (SELECT 1 FROM visits v JOIN medications m ON m.visit_id = v.id WHERE v.patient_id = p.id AND m.atc3 IS NOT NULL)
       ORDER BY p.id`
    )
    .all() as { id: number; sourcePatientId: string }[]
  if (candidates.length === 0) throw new Error('The test database has no MIMIC-IV patient with 2+ dated visits and mapped medications.')
  const withVisits = candidates.map((candidate) => ({
    ...candidate,
    visits: db
      .prepare('SELECT source_visit_id AS sourceVisitId, admit_time AS admitTime FROM visits WHERE patient_id = ? ORDER BY admit_time')
      .all(candidate.id) as TargetPatient['visits']
  }))
  const idOrderDiffers = (p: TargetPatient) =>
    p.visits.map((v) => v.sourceVisitId).join() !== [...p.visits].sort((a, b) => Number(a.sourceVisitId) - Number(b.sourceVisitId)).map((v) => v.sourceVisitId).join()
  return withVisits.find((p) => idOrderDiffers(p) && p.visits.length <= 5) ?? withVisits[0]!
}

describe('MedRec renderer (headless Chromium)', () => {
  let database: TestDatabase
  let db: Db
  let app: BuiltApp
  let host: TestHost
  let copyDir: string | undefined
  let copyPath: string
  let browser: Browser
  let page: Page
  const pageErrors: string[] = []
  const consoleErrors: string[] = []
  const failedRequests: string[] = []

  const count = (sql: string, ...params: unknown[]) => (db.prepare(sql).get(...params) as { n: number }).n
  const summary = () => page.locator('#patient-list-summary')
  const fmt = (n: number) => n.toLocaleString('en-US')

  beforeAll(async () => {
    database = await testDatabase()
    // Opening a record is audited (a write), as in the app: the host works on a writable copy of the demo.
    copyDir = mkdtempSync(join(tmpdir(), 'medrec-e2e-app-'))
    copyPath = join(copyDir, 'demo.sqlite')
    copyFileSync(database.path, copyPath)
    db = openDatabase(copyPath, { readonly: true })
    app = await buildApp()
    host = await startTestHost(app, { databasePath: copyPath, readonly: false })
    browser = await launchBrowser()
    page = await browser.context.newPage()
    page.on('pageerror', (error) => pageErrors.push(error.message))
    page.on('response', (response) => {
      if (response.status() >= 400) failedRequests.push(`${response.status()} ${response.url()}`)
    })
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text())
    })
    await page.goto(host.url)
  })

  afterAll(async () => {
    await browser?.close()
    await host?.close()
    app?.remove()
    db?.close()
    database?.remove()
    if (copyDir) rmSync(copyDir, { recursive: true, force: true })
  })

  it('electron-vite builds a sandbox-ready CommonJS preload and keeps native modules out of main', () => {
    const preload = readFileSync(join(app.outDir, 'preload', 'index.cjs'), 'utf8')
    expect([...preload.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1])).toEqual(['electron'])
    expect(preload).not.toMatch(/^\s*(import|export)\s/m)
    const main = readFileSync(join(app.outDir, 'main', 'index.js'), 'utf8')
    expect(main).toMatch(/from "better-sqlite3"/)
    expect(main).toContain('sandbox: true')
    expect(main).toContain('contextIsolation: true')
    expect(main).toContain('nodeIntegration: false')
    const html = readFileSync(join(app.outDir, 'renderer', 'index.html'), 'utf8')
    expect(html).toContain('http-equiv="Content-Security-Policy"')
    const scriptTags = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])
    expect(scriptTags.length).toBeGreaterThan(0)
    for (const tag of scriptTags) expect(tag, 'no inline scripts').toMatch(/\ssrc=/)
  })

  it('builds the CSV reading thread beside the main bundle, and the built thread reads a gzipped export', async () => {
    const mainDir = join(app.outDir, 'main')
    // The reader finds the thread from the chunk it is bundled in (csvWorkerEntry from that chunk's URL).
    const readerChunk = readdirSync(mainDir).find((name) => /^csv-.*\.js$/.test(name) && name !== 'csv-worker.js')
    expect(readerChunk, 'the CSV reader is a chunk of out/main').toBeDefined()
    const entry = csvWorkerEntry(pathToFileURL(join(mainDir, readerChunk!)).href)
    expect(entry).toEqual({ file: join(mainDir, 'csv-worker.js'), execArgv: undefined })
    expect(readFileSync(entry.file, 'utf8')).not.toMatch(/from "electron"/)
    const dir = mkdtempSync(join(tmpdir(), 'medrec-e2e-csv-'))
    try {
      const rows = Array.from({ length: 5_000 }, (_, i) => `${i},"Drug ${i}, 5 mg",x`)
      writeFileSync(join(dir, 'prescriptions.csv.gz'), gzipSync(['id,drug,other', ...rows, '7,too,many,fields'].join('\n') + '\n'))
      const request: CsvWorkerRequest = {
        source: { path: join(dir, 'prescriptions.csv.gz'), displayName: 'hosp/prescriptions.csv.gz' },
        columns: { required: ['drug', 'id'] },
        options: {},
        window: 1_000
      }
      const messages = await new Promise<CsvWorkerMessage[]>((resolveAll, reject) => {
        const received: CsvWorkerMessage[] = []
        const worker = new Worker(entry.file, { workerData: request })
        worker.on('message', (message: CsvWorkerMessage) => {
          received.push(message)
          if (message.type !== 'batch') void worker.terminate().then(() => resolveAll(received))
        })
        worker.on('error', reject)
      })
      expect(messages.at(-1)?.type).toBe('end')
      const batches = messages.flatMap((m) => (m.type === 'batch' ? [unpackBatch(m.batch)] : []))
      const records = batches.flatMap((b) => Array.from({ length: b.count }, (_, r) => b.fields.slice(r * b.width, (r + 1) * b.width)))
      expect(records).toHaveLength(5_000)
      expect(records[4_999]).toEqual(['Drug 4999, 5 mg', '4999'])
      expect(batches.flatMap((b) => [...b.lines]).at(-1)).toBe(5_001)
      expect(batches.flatMap((b) => b.malformed)).toEqual([{ line: 5_002, reason: 'expected 3 columns, found 4' }])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('lists the patients of the database, one page at a time', async () => {
    const total = count('SELECT count(*) AS n FROM patients')
    await expect.poll(() => summary().textContent()).toBe(`1–${Math.min(PAGE_SIZE, total)} of ${fmt(total)} patients`)
    const firstIds = (db.prepare('SELECT source_patient_id AS sid FROM patients ORDER BY id LIMIT ?').all(PAGE_SIZE) as { sid: string }[]).map((r) => r.sid)
    const shown = await page.locator('[role=option] .patient-id').allTextContents()
    expect(shown).toEqual(firstIds)
    console.log(`[e2e] database: ${database.kind} (${fmt(total)} patients)`)
    await screenshot(page, '01-patient-list')
  })

  it('pages with the keyboard and the pager buttons', async () => {
    const total = count('SELECT count(*) AS n FROM patients')
    if (total <= PAGE_SIZE) return
    await page.getByRole('listbox').focus()
    await page.keyboard.press('PageDown')
    await expect.poll(() => summary().textContent()).toBe(`${PAGE_SIZE + 1}–${Math.min(2 * PAGE_SIZE, total)} of ${fmt(total)} patients`)
    const secondPageFirst = (db.prepare('SELECT source_patient_id AS sid FROM patients ORDER BY id LIMIT 1 OFFSET ?').get(PAGE_SIZE) as { sid: string }).sid
    await expect.poll(() => page.locator('[role=option] .patient-id').first().textContent()).toBe(secondPageFirst)
    await page.getByRole('button', { name: /Previous/ }).click()
    await expect.poll(() => summary().textContent()).toMatch(/^1–/)
  })

  it('searches by patient id and opens a patient from the keyboard, visits in time order', async () => {
    const target = pickTargetPatient(db)
    const prefix = target.sourcePatientId.slice(0, -1)
    const search = page.getByLabel('Find patient')

    await search.fill(prefix)
    const prefixMatches = count(`SELECT count(*) AS n FROM patients WHERE source_patient_id LIKE ?`, `${prefix}%`)
    await expect.poll(() => summary().textContent()).toBe(`1–${Math.min(prefixMatches, PAGE_SIZE)} of ${fmt(prefixMatches)} patient${prefixMatches === 1 ? '' : 's'}`)

    await search.fill(target.sourcePatientId)
    const matches = (db.prepare(`SELECT id FROM patients WHERE source_patient_id LIKE ? ORDER BY id`).all(`${target.sourcePatientId}%`) as { id: number }[]).map((r) => r.id)
    await expect.poll(() => summary().textContent()).toMatch(new RegExp(`of ${matches.length} patient`))
    await expect.poll(() => page.locator('[role=option] .patient-id').allTextContents()).toContain(target.sourcePatientId)

    // ↓ from the search box enters the list; ↓ moves; Enter opens.
    await search.press('ArrowDown')
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.getAttribute('role'))).toBe('listbox')
    for (let i = 0; i < matches.indexOf(target.id); i++) await page.keyboard.press('ArrowDown')
    await page.keyboard.press('Enter')

    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toMatch(new RegExp(`^Patient ${target.sourcePatientId}`))
    const cards = page.locator('article.visit')
    await expect.poll(() => cards.count()).toBe(count('SELECT count(*) AS n FROM visits WHERE patient_id = ?', target.id))
    const renderedOrder = await cards.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-visit-id') ?? ''))
    const admitTimeOf = new Map(target.visits.map((v) => [v.sourceVisitId, v.admitTime ?? '']))
    const renderedTimes = renderedOrder.map((id) => admitTimeOf.get(id) ?? '')
    expect(renderedTimes).toEqual([...renderedTimes].sort())
    expect(await page.locator('.visit-header h2').first().textContent()).toBe(`Visit 1 of ${renderedOrder.length}`)

    // Diagnoses with code and title, medications with ATC class code and name.
    const firstVisit = renderedOrder[0]!
    const titled = db
      .prepare(
        `SELECT d.code, t.title FROM diagnoses d JOIN visits v ON v.id = d.visit_id
         JOIN code_titles t ON t.kind = 'diagnosis' AND t.code_system = d.code_system AND t.code = d.code
         WHERE v.patient_id = ? AND v.source_visit_id = ? ORDER BY d.seq LIMIT 1`
      )
      .get(target.id, firstVisit) as { code: string; title: string } | undefined
    const firstCard = page.locator(`article.visit[data-visit-id="${firstVisit}"]`)
    if (titled) {
      const row = firstCard.locator('.code-list li', { hasText: titled.title })
      await expect.poll(() => row.locator('.code').first().textContent()).toBe(titled.code)
    }
    const medication = db
      .prepare(
        `SELECT v.source_visit_id AS visit, m.atc3, a.name FROM medications m JOIN visits v ON v.id = m.visit_id
         JOIN atc_names a ON a.code = m.atc3 WHERE v.patient_id = ? ORDER BY v.sort_key, m.id LIMIT 1`
      )
      .get(target.id) as { visit: string; atc3: string; name: string } | undefined
    expect(medication, 'target patient has a medication with a named ATC class').toBeDefined()
    const medicationCard = page.locator(`article.visit[data-visit-id="${medication!.visit}"] .medication-table`)
    await expect.poll(() => medicationCard.textContent()).toContain(`${medication!.atc3} ${medication!.name}`)

    const unmappedVisits = (
      db
        .prepare(
          `SELECT DISTINCT v.source_visit_id AS visit FROM medications m JOIN visits v ON v.id = m.visit_id
           WHERE v.patient_id = ? AND m.mapping_method = 'unmapped'`
        )
        .all(target.id) as { visit: string }[]
    ).map((r) => r.visit)
    for (const visit of unmappedVisits) {
      expect(await page.locator(`article.visit[data-visit-id="${visit}"] .badge-unmapped`).count()).toBeGreaterThan(0)
    }
    await screenshot(page, '02-patient-timeline')
    await page.locator('.patient-detail').evaluate((el) => el.scrollTo(0, el.scrollHeight))
    await screenshot(page, '03-patient-timeline-scrolled')
  })

  it('orders eICU stays by their relative position and labels them', async () => {
    const patient = db
      .prepare(
        `SELECT p.id, p.source_patient_id AS sid FROM patients p WHERE p.source = 'eicu'
         AND (SELECT count(*) FROM visits v WHERE v.patient_id = p.id) BETWEEN 2 AND 4 ORDER BY p.id LIMIT 1`
      )
      .get() as { id: number; sid: string } | undefined
    if (!patient) return
    const expected = db
      .prepare('SELECT source_visit_id AS visit, order_label AS label, age_at_admission AS age FROM visits WHERE patient_id = ? ORDER BY sort_key')
      .all(patient.id) as { visit: string; label: string; age: number | null }[]
    await page.getByLabel('Find patient').fill(patient.sid)
    await page.locator('[role=option]', { hasText: patient.sid }).first().click()
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toMatch(new RegExp(`^Patient ${patient.sid}`))
    const cards = page.locator('article.visit')
    await expect.poll(() => cards.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-visit-id')))).toEqual(expected.map((v) => v.visit))
    expect(await page.locator('.visit-when').allTextContents()).toEqual(expected.map((v) => v.label))
    // The age at each stay, top-coded as eICU records it ("> 89" shown as 90+).
    expect(await page.locator('.visit-age').allTextContents()).toEqual(expected.flatMap((v) => (v.age === null ? [] : [`${formatAge(v.age)} y`])))
    const unnamed = count(
      `SELECT count(*) AS n FROM medications m JOIN visits v ON v.id = m.visit_id WHERE v.patient_id = ? AND trim(m.raw_name) = ''`,
      patient.id
    )
    expect((await page.locator('.medication-table').allTextContents()).join().includes('no name recorded')).toBe(unnamed > 0)
    await screenshot(page, '07-eicu-patient')
  })

  it('opens a long record on its latest visits and loads the earlier ones on request', async () => {
    const longest = db
      .prepare(`SELECT p.id, p.source_patient_id AS sid, count(*) AS n FROM patients p JOIN visits v ON v.patient_id = p.id GROUP BY p.id ORDER BY n DESC, p.id LIMIT 1`)
      .get() as { id: number; sid: string; n: number }
    expect(longest.n, 'the demo has a patient with more visits than one timeline page').toBeGreaterThan(TIMELINE_PAGE_VISITS)
    const inTimeOrder = (db.prepare('SELECT source_visit_id AS visit FROM visits WHERE patient_id = ? ORDER BY sort_key, id').all(longest.id) as { visit: string }[]).map(
      (v) => v.visit
    )
    await page.getByLabel('Find patient').fill(longest.sid)
    await page.locator('[role=option]', { hasText: longest.sid }).first().click()
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toMatch(new RegExp(`^Patient ${longest.sid}`))
    const cards = page.locator('article.visit')
    const shown = () => cards.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-visit-id')))
    await expect.poll(shown).toEqual(inTimeOrder.slice(-TIMELINE_PAGE_VISITS))
    const earlier = longest.n - TIMELINE_PAGE_VISITS
    expect(await page.locator('.visit-header h2').first().textContent()).toBe(`Visit ${earlier + 1} of ${longest.n}`)
    const more = page.getByRole('button', { name: /earlier visit/ })
    expect(await more.textContent()).toBe(`Show ${Math.min(earlier, TIMELINE_PAGE_VISITS)} earlier visit${earlier === 1 ? '' : 's'}`)
    await screenshot(page, '08-long-record-latest-visits')
    await more.click()
    await expect.poll(shown).toEqual(inTimeOrder.slice(-2 * TIMELINE_PAGE_VISITS))
    expect(await page.locator('.visit-header h2').first().textContent()).toBe(`Visit ${Math.max(1, earlier - TIMELINE_PAGE_VISITS + 1)} of ${longest.n}`)
    if (earlier <= TIMELINE_PAGE_VISITS) expect(await page.getByRole('button', { name: /earlier visit/ }).count()).toBe(0)
    await screenshot(page, '09-long-record-earlier-visits')
  })

  it('shows an empty state when no patient id matches', async () => {
    await page.getByLabel('Find patient').fill('no-such-patient')
    await expect.poll(() => page.locator('.state-empty').first().textContent()).toContain('No patient id starts with “no-such-patient”.')
    await screenshot(page, '04-search-empty')
    await page.getByLabel('Find patient').fill('')
    await expect.poll(() => summary().textContent()).toMatch(/^1–/)
  })

  it('shows an error state when the API fails, and recovers with Try again', async () => {
    host.breakDatabase()
    try {
      await page.locator('[role=option]').nth(1).click()
      const alert = page.getByRole('alert')
      await expect.poll(() => alert.textContent()).toContain('This patient could not be opened.')
      expect(await alert.textContent()).toContain('patients:timeline failed: The database connection is not open')

      await page.reload()
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('The patient list could not be loaded.')
      expect(await page.getByRole('alert').textContent()).toContain('patients:list failed')
      await screenshot(page, '05-list-error')
    } finally {
      host.restoreDatabase()
    }
    await page.getByRole('button', { name: 'Try again' }).click()
    await expect.poll(() => summary().textContent()).toMatch(/^1–/)
    expect(await page.getByRole('alert').count()).toBe(0)
  })

  it('the API refuses invalid arguments end to end', async () => {
    const message = await page.evaluate(() =>
      (globalThis as unknown as PageGlobals).api['patients:list']({ offset: -5, limit: 10 }).then(
        () => 'resolved',
        (error: Error) => error.message
      )
    )
    expect(message).toBe('[invalid] Invalid arguments for patients:list: argument 1 (offset): Too small: expected number to be >=0.')
  })

  it('runs under a strict Content-Security-Policy with only window.api exposed', async () => {
    const policy = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')
    expect(policy).toContain("default-src 'self'")
    expect(policy).toContain("script-src 'self'")
    const ranInline = await page.evaluate(async () => {
      const page = globalThis as unknown as PageGlobals
      const script = page.document.createElement('script')
      script.textContent = 'window.__inlineRan = true'
      page.document.head.append(script)
      await new Promise((r) => setTimeout(r, 50))
      return page.__inlineRan === true
    })
    expect(ranInline).toBe(false)
    expect(await page.evaluate(() => typeof (globalThis as unknown as PageGlobals).require)).toBe('undefined')
    expect(await page.evaluate(() => Object.keys((globalThis as unknown as PageGlobals).api).sort())).toEqual([...API_METHODS].sort())
  })

  it('About shows the version, database and every data attribution with its license', async () => {
    await page.getByRole('button', { name: 'About' }).click()
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('About MedRec Desktop')
    await expect.poll(() => page.locator('.attribution').count()).toBe(DATA_ATTRIBUTIONS.length)
    const text = (await page.locator('.about-view').textContent()) ?? ''
    expect(text).toContain('decision-support tool')
    expect(text).toContain(fmt(count('SELECT count(*) AS n FROM patients')))
    expect(text).toContain(copyPath)
    for (const source of DATA_ATTRIBUTIONS) {
      const entry = page.locator('.attribution', { hasText: source.name })
      expect(await entry.locator('.license').textContent()).toBe(`License: ${source.license}`)
    }
    expect(text.match(/Open Database License \(ODbL\) 1\.0/g)?.length).toBe(2)
    expect(text.match(/CC BY-NC-SA 4\.0/g)?.length).toBe(2)
    expect(text).toContain('MIT License')
    await screenshot(page, '06-about')
    await page.getByRole('button', { name: 'Patients' }).click()
  })

  it('raised no uncaught errors in the page', () => {
    expect(pageErrors).toEqual([])
    expect(failedRequests).toEqual([])
    // The only console errors are the deliberate CSP refusal above.
    expect(consoleErrors.filter((text) => !text.includes('Content Security Policy'))).toEqual([])
  })
})
