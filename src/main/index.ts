// Electron main process: one locked-down window, the patient database, IPC. Everything else lives
// in services (plain Node) and the renderer.
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { app, BrowserWindow, dialog, session } from 'electron'
import { createApi } from './api/handlers'
import { CONTENT_SECURITY_POLICY, devContentSecurityPolicy } from './content-security-policy'
import { registerIpcHandlers } from './ipc'
import { openDatabase, type Db } from './services/db/database'
import { defaultDatabasePath } from './services/paths'

// Set by `electron-vite dev` only; a built app always loads its own files.
const devServerUrl = !app.isPackaged ? process.env.ELECTRON_RENDERER_URL : undefined
const rendererIndexUrl = pathToFileURL(fileURLToPath(new URL('../renderer/index.html', import.meta.url))).href
const preloadPath = fileURLToPath(new URL('../preload/index.cjs', import.meta.url))

/** --db=<file> on the command line, else $MEDREC_DB or the bundled demo, else a database in the user's profile. */
function databasePath(): string {
  const fromArgs = process.argv.find((arg) => arg.startsWith('--db='))?.slice('--db='.length)
  if (fromArgs) return resolve(fromArgs)
  const configured = defaultDatabasePath()
  if (process.env.MEDREC_DB || existsSync(configured)) return configured
  return join(app.getPath('userData'), 'medrec.sqlite')
}

/** Only the app's own page may call the API. */
function isAppPage(frameUrl: string | undefined): boolean {
  if (!frameUrl) return false
  if (devServerUrl) return new URL(frameUrl).origin === new URL(devServerUrl).origin
  return frameUrl.split('#')[0] === rendererIndexUrl
}

function lockDownSessions(): void {
  const policy = devServerUrl ? devContentSecurityPolicy(devServerUrl) : CONTENT_SECURITY_POLICY
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [policy] } })
  })
  // Nothing leaves the machine: refuse every remote request (the dev server is local).
  session.defaultSession.webRequest.onBeforeRequest({ urls: ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*'] }, (details, callback) => {
    const local = devServerUrl !== undefined && new URL(details.url).host === new URL(devServerUrl).host
    callback({ cancel: !local })
  })
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
  session.defaultSession.setPermissionCheckHandler(() => false)
}

// Every web contents, including any created later: no navigation, no new windows, no webviews.
app.on('web-contents-created', (_event, contents) => {
  contents.on('will-navigate', (event) => event.preventDefault())
  contents.on('will-redirect', (event) => event.preventDefault())
  contents.on('will-attach-webview', (event) => event.preventDefault())
  contents.setWindowOpenHandler(() => ({ action: 'deny' }))
})

function createWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1366,
    height: 768,
    minWidth: 1024,
    minHeight: 640,
    title: 'MedRec Desktop',
    show: false,
    autoHideMenuBar: true,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false
    }
  })
  window.once('ready-to-show', () => window.show())
  if (devServerUrl) void window.loadURL(devServerUrl)
  else void window.loadURL(rendererIndexUrl)
  return window
}

let db: Db | undefined

app.whenReady().then(() => {
  lockDownSessions()
  // The hospital's trusted model keys live under the app's user data (services/models/signature.ts).
  process.env.MEDREC_USER_DATA ??= app.getPath('userData')
  const path = databasePath()
  try {
    db = openDatabase(path)
  } catch (error) {
    dialog.showErrorBox('MedRec Desktop cannot open the patient database', `${path}\n\n${error instanceof Error ? error.message : String(error)}`)
    app.exit(1)
    return
  }
  registerIpcHandlers(createApi({ db, databasePath: path, appVersion: app.getVersion() }), isAppPage)
  createWindow()
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow()
  })
}).catch((error: unknown) => {
  console.error(error)
  app.exit(1)
})

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit()
})

app.on('will-quit', () => db?.close())
