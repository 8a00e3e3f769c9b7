// ipc.ts and preload against a stand-in for Electron's ipcMain / ipcRenderer / contextBridge (the
// Electron binary cannot run here). The stand-in only records what is registered and exposed; the
// dispatcher, schemas and services behind it are the real ones.
import { API_CHANNEL_PREFIX, API_METHODS } from '../../src/shared/api/methods'
import { readApiError } from '../../src/shared/api/errors'
import { type MedrecApi } from '../../src/shared/api'
import type { PatientPage } from '../../src/shared/domain/patient'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { createApi } from '../../src/main/api/handlers'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { createFixtureDatabase } from '../e2e/fixture-database'

type Handler = (event: { senderFrame: { url: string } | null }, ...args: unknown[]) => Promise<unknown>

const electron = vi.hoisted(() => ({
  handlers: new Map<string, Handler>(),
  exposed: new Map<string, unknown>()
}))

vi.mock('electron', () => ({
  ipcMain: {
    handle: (channel: string, handler: Handler) => {
      if (electron.handlers.has(channel)) throw new Error(`second handler for ${channel}`)
      electron.handlers.set(channel, handler)
    },
    removeHandler: (channel: string) => electron.handlers.delete(channel)
  },
  // The renderer side of invoke: straight to the registered handler, as from the app's own page.
  ipcRenderer: {
    invoke: (channel: string, ...args: unknown[]) => {
      const handler = electron.handlers.get(channel)
      if (!handler) return Promise.reject(new Error(`No handler registered for '${channel}'`))
      return handler({ senderFrame: { url: 'file:///app/index.html' } }, ...args)
    }
  },
  contextBridge: {
    exposeInMainWorld: (key: string, value: unknown) => electron.exposed.set(key, value)
  }
}))

const { registerIpcHandlers } = await import('../../src/main/ipc')

describe('IPC wiring', () => {
  let dir: string
  let db: Db
  let unregister: () => void

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medrec-ipc-'))
    const path = join(dir, 'fixture.sqlite')
    createFixtureDatabase(path)
    db = openDatabase(path)
  })
  afterAll(() => {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })
  beforeEach(() => {
    unregister?.()
    unregister = registerIpcHandlers(createApi({ db, databasePath: 'fixture', appVersion: '1' }), (url) => url === 'file:///app/index.html')
  })

  const invoke = (method: string, url: string, ...args: unknown[]) => {
    const handler = electron.handlers.get(API_CHANNEL_PREFIX + method)
    if (!handler) throw new Error(`no handler for ${method}`)
    return handler({ senderFrame: { url } }, ...args)
  }

  it('registers exactly one handler per API method, and removes them', () => {
    expect([...electron.handlers.keys()].sort()).toEqual(API_METHODS.map((m) => API_CHANNEL_PREFIX + m).sort())
    unregister()
    expect(electron.handlers.size).toBe(0)
    unregister = () => {}
  })

  it('passes valid calls to the service', async () => {
    const response = (await invoke('patients:list', 'file:///app/index.html', { offset: 0, limit: 3 })) as { ok: boolean; result: PatientPage }
    expect(response.ok).toBe(true)
    expect(response.result.patients).toHaveLength(3)
  })

  it('refuses wrong arguments with a message naming them', async () => {
    const response = await invoke('patients:list', 'file:///app/index.html', { offset: 0, limit: 100000 })
    expect(response).toEqual({
      ok: false,
      error: { code: 'invalid', field: 'argument 1 (limit)', message: 'Invalid arguments for patients:list: argument 1 (limit): Too big: expected number to be <=500.' }
    })
  })

  it('refuses calls from a page that is not the app', async () => {
    const response = await invoke('patients:list', 'https://example.org/', { offset: 0, limit: 3 })
    expect(response).toMatchObject({ ok: false, error: { code: 'refused', message: expect.stringMatching(/not MedRec \(https:\/\/example.org\/\)/) } })
  })

  describe('preload', () => {
    let api: MedrecApi

    beforeAll(async () => {
      electron.exposed.clear()
      await import('../../src/preload/index')
      api = electron.exposed.get('api') as MedrecApi
    })

    it('exposes only window.api, with one function per method', () => {
      expect([...electron.exposed.keys()]).toEqual(['api'])
      expect(Object.keys(api).sort()).toEqual([...API_METHODS].sort())
      for (const method of API_METHODS) expect(typeof api[method]).toBe('function')
    })

    it('resolves with the result of a valid call', async () => {
      const page = await api['patients:list']({ search: '10000032', offset: 0, limit: 10 })
      expect(page.patients.map((p) => p.sourcePatientId)).toEqual(['10000032'])
    })

    it('rejects with an error whose code and message the renderer can read', async () => {
      const bad = api['patients:timeline'] as unknown as (...args: unknown[]) => Promise<unknown>
      const error = await bad('seven').catch((e: unknown) => e)
      expect(readApiError(error)).toEqual({
        code: 'invalid',
        message: 'Invalid arguments for patients:timeline: argument 1: Invalid input: expected number, received string.'
      })
      const missing = await api['patients:timeline'](424242).catch((e: unknown) => e)
      expect(readApiError(missing)).toEqual({ code: 'not-found', message: 'No patient with id 424242.' })
    })
  })
})
