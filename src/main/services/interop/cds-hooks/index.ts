// Assembles the CDS Hooks service from the patient store, the drug knowledge base and the drug mapping
// tables (the same ones the importers use), for `medrec serve`, the tests and the bench.
import type { FastifyInstance } from 'fastify'
import { dataDir as defaultDataDir, defaultKnowledgeBasePath } from '../../paths'
import { openServices } from '../../open-services'
import { CdsAuthenticator, type CdsAuthConfig } from './auth'
import { CdsCardBuilder } from './cards'
import { createCdsServer } from './server'

export { CdsAuthenticator, CdsAuthError, loadAuthConfig, type CdsAuthConfig, type TrustedIssuer } from './auth'
export { CDS_SERVICES, OVERRIDE_REASONS, PREFETCH, type CdsCard, type CdsResponse } from './definitions'

export interface OpenCdsOptions {
  databasePath: string
  knowledgeBasePath?: string
  dataDir?: string
  /** null: no authentication (loopback only; the caller checks). */
  auth: CdsAuthConfig | null
}

export interface OpenedCdsService {
  app: FastifyInstance
  /** Hook calls answered (audited) since an ISO time. */
  callsSince(iso: string): number
  close(): Promise<void>
}

export async function openCdsService(options: OpenCdsOptions): Promise<OpenedCdsService> {
  const opened = await openServices({
    databasePath: options.databasePath,
    knowledgeBasePath: options.knowledgeBasePath ?? defaultKnowledgeBasePath(),
    ...(options.dataDir ? { dataDirectory: options.dataDir } : {})
  })
  try {
    const knowledge = opened.services.knowledge()
    if (!knowledge) throw new Error(opened.services.knowledgeUnavailable ?? 'No drug interaction knowledge base.')
    // Ordered drugs resolve through the one drug resolver, with this database's local overrides.
    const resolver = opened.services.drugResolver()
    if (!resolver) throw new Error(`The drug resolver could not read the open data folder (${options.dataDir ?? defaultDataDir()}): ordered drugs cannot be checked.`)
    const app = createCdsServer({ db: opened.services.db, cards: new CdsCardBuilder(knowledge.ddi, knowledge.kb, resolver), auth: options.auth ? new CdsAuthenticator(options.auth) : null })
    const calls = opened.services.db.prepare(`SELECT count(*) FROM audit_log WHERE kind = 'cds-hooks-call' AND created_at >= ?`).pluck()
    return {
      app,
      callsSince: (iso) => calls.get(iso) as number,
      async close() {
        await app.close()
        await opened.close()
      }
    }
  } catch (error) {
    await opened.close()
    throw error
  }
}

/** Loopback addresses: the only ones a service without authentication may listen on. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}
