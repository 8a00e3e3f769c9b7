// The renderer's only door to the app: window.api, one function per API method, each an IPC
// invoke on its own channel. Nothing else is exposed. This file is bundled as CommonJS
// (index.cjs) because a sandboxed preload cannot load ES modules or node_modules.
import { API_CHANNEL_PREFIX, type ApiResponse } from '../shared/api/methods'
import { createApiClient } from '../shared/api/client'
import { contextBridge, ipcRenderer } from 'electron'

const api = createApiClient((method, args) => ipcRenderer.invoke(API_CHANNEL_PREFIX + method, ...args) as Promise<ApiResponse>)

contextBridge.exposeInMainWorld('api', api)
