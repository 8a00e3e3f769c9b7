// The e2e test host: stands in for Electron. It builds the app with electron-vite (the renderer
// exactly as shipped), serves the renderer on 127.0.0.1 at a random port, and answers
// POST /api/<method> with the same validated dispatcher ipc.ts uses. A small bridge script,
// injected before the app's own script, defines window.api over fetch.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { build as buildElectronApp } from 'electron-vite'
import { build as viteBuild } from 'vite'
import type { ApiDispatcher } from '../../src/main/api/dispatcher'
import { createApi } from '../../src/main/api/handlers'
import { CONTENT_SECURITY_POLICY } from '../../src/main/content-security-policy'
import { openDatabase, type Db } from '../../src/main/services/db/database'
import { MedrecServices } from '../../src/main/services/open-services'
import { projectRoot } from '../../src/main/services/paths'

export interface BuiltApp {
  /** electron-vite output: main/, preload/, renderer/ */
  outDir: string
  bridgeScript: string
  remove(): void
}

/** Runs `electron-vite build` into a temp folder and bundles the bridge script. */
export async function buildApp(): Promise<BuiltApp> {
  const root = projectRoot()
  const outDir = mkdtempSync(join(tmpdir(), 'medrec-e2e-build-'))
  await buildElectronApp({ root, build: { outDir }, logLevel: 'warn' })
  const bridgeDir = join(outDir, 'e2e-bridge')
  await viteBuild({
    configFile: false,
    root,
    logLevel: 'warn',
    build: {
      outDir: bridgeDir,
      emptyOutDir: true,
      minify: false,
      lib: { entry: join(root, 'tests/e2e/bridge.ts'), formats: ['iife'], name: 'MedrecE2eBridge', fileName: () => 'bridge.js' }
    }
  })
  return {
    outDir,
    bridgeScript: readFileSync(join(bridgeDir, 'bridge.js'), 'utf8'),
    remove: () => rmSync(outDir, { recursive: true, force: true })
  }
}

export interface TestHost {
  url: string
  /** Closes the database under the running app, so every call fails as it would in the app. */
  breakDatabase(): void
  restoreDatabase(): void
  close(): Promise<void>
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2'
}

const MAX_BODY_BYTES = 1_000_000

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) reject(new Error('request body too large'))
      else chunks.push(chunk)
    })
    request.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')))
    request.on('error', reject)
  })
}

export interface TestHostOptions {
  databasePath: string
  appVersion?: string
  /** Open the database read-only (default). The workspace tests write settings and audit entries to a copy. */
  readonly?: boolean
  /** Models folder for the workspace services (default: $MEDREC_MODELS_DIR or models/). */
  modelsDirectory?: string
  /** Knowledge base (default: resources/knowledge.sqlite or $MEDREC_KB; null: none). */
  knowledgeBasePath?: string | null
}

export async function startTestHost(app: BuiltApp, options: TestHostOptions): Promise<TestHost> {
  const rendererDir = join(app.outDir, 'renderer')
  const indexHtml = readFileSync(join(rendererDir, 'index.html'), 'utf8')
  // The bridge goes before the app's module script (modules run deferred, so it is defined first).
  const servedIndex = indexHtml.replace('<script type="module"', '<script src="./__e2e__/bridge.js"></script>\n    <script type="module"')
  if (servedIndex === indexHtml) throw new Error('Built index.html has no module script to put the bridge before.')
  const appVersion = options.appVersion ?? (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version

  let db: Db
  let dispatcher: ApiDispatcher
  let workspace: MedrecServices | undefined
  const open = () => {
    void workspace?.close()
    db = openDatabase(options.databasePath, { readonly: options.readonly ?? true })
    workspace = new MedrecServices(db, { modelsDirectory: options.modelsDirectory, knowledgeBasePath: options.knowledgeBasePath })
    dispatcher = createApi({ db, databasePath: options.databasePath, appVersion, services: workspace }, { onInternalError: () => {} })
  }
  open()

  const send = (response: ServerResponse, status: number, type: string, body: string | Buffer) => {
    response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-security-policy': CONTENT_SECURITY_POLICY })
    response.end(body)
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1')
    if (url.pathname.startsWith('/api/')) {
      if (request.method !== 'POST') return send(response, 405, 'text/plain', 'POST only')
      const method = decodeURIComponent(url.pathname.slice('/api/'.length))
      let args: unknown
      try {
        args = JSON.parse(await readBody(request))
      } catch (error) {
        const message = `Invalid arguments for ${method}: the request body is not JSON (${(error as Error).message}).`
        return send(response, 200, 'application/json', JSON.stringify({ ok: false, error: { code: 'invalid', message } }))
      }
      return send(response, 200, 'application/json', JSON.stringify(await dispatcher.dispatch(method, args)))
    }
    if (request.method !== 'GET') return send(response, 405, 'text/plain', 'GET only')
    if (url.pathname === '/' || url.pathname === '/index.html') return send(response, 200, CONTENT_TYPES['.html']!, servedIndex)
    // Browsers ask for a favicon; Electron does not. Answer without content rather than 404.
    if (url.pathname === '/favicon.ico') return send(response, 204, 'image/x-icon', '')
    if (url.pathname === '/__e2e__/bridge.js') return send(response, 200, CONTENT_TYPES['.js']!, app.bridgeScript)
    const file = normalize(join(rendererDir, decodeURIComponent(url.pathname)))
    if (!file.startsWith(resolve(rendererDir) + sep)) return send(response, 403, 'text/plain', 'outside the app')
    try {
      return send(response, 200, CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', readFileSync(file))
    } catch {
      return send(response, 404, 'text/plain', 'not found')
    }
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => send(response, 500, 'text/plain', String(error)))
  })
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen))
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}/`,
    breakDatabase: () => db.close(),
    restoreDatabase: () => {
      if (!db.open) open()
    },
    close: async () => {
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()))
      await workspace?.close()
      if (db.open) db.close()
    }
  }
}
