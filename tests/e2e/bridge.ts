// Stands in for preload in the e2e test host: defines window.api over HTTP with the same client
// code preload uses over IPC. Built as a classic (non-module) script so it runs before the app.
import type { ApiResponse } from '../../src/shared/api/methods'
import { createApiClient } from '../../src/shared/api/client'

const api = createApiClient(async (method, args) => {
  const response = await fetch(`/api/${encodeURIComponent(method)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(args)
  })
  if (!response.ok) throw new Error(`HTTP ${response.status}`)
  return (await response.json()) as ApiResponse
})

Object.defineProperty(globalThis, 'api', { value: Object.freeze(api), enumerable: true })
