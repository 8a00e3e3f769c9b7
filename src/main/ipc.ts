// Wires the validated API dispatcher to Electron IPC: one ipcMain.handle per API method. The
// dispatcher checks every argument with zod before a service runs; a call from a frame that is not
// the app's own page is refused.
import { API_CHANNEL_PREFIX, API_METHODS, type ApiResponse } from '../shared/api/methods'
import { ipcMain, type IpcMainInvokeEvent } from 'electron'
import type { ApiDispatcher } from './api/dispatcher'

export type SenderCheck = (frameUrl: string | undefined) => boolean

/** Registers the handlers; the returned function removes them (window re-creation, tests). */
export function registerIpcHandlers(dispatcher: ApiDispatcher, isTrustedSender: SenderCheck): () => void {
  for (const method of API_METHODS) {
    ipcMain.handle(API_CHANNEL_PREFIX + method, (event: IpcMainInvokeEvent, ...args: unknown[]): Promise<ApiResponse> => {
      const frameUrl = event.senderFrame?.url
      if (!isTrustedSender(frameUrl)) {
        return Promise.resolve({
          ok: false,
          error: { code: 'refused', message: `Refused ${method}: the call came from a page that is not MedRec (${frameUrl ?? 'unknown'}).` }
        })
      }
      return dispatcher.dispatch(method, args)
    })
  }
  return () => {
    for (const method of API_METHODS) ipcMain.removeHandler(API_CHANNEL_PREFIX + method)
  }
}
