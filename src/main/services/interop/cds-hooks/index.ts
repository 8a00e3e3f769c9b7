// Assembles the CDS Hooks service from the patient store, the drug knowledge base and the drug mapping
// tables (the same ones the importers use), for `medrec serve`, the tests and the bench.
import type { FastifyInstance } from 'fastify'
import { openDatabase } from '../../db/database'
import { DdiService } from '../../ddi/ddi-service'
import { defaultKnowledgeBasePath } from '../../knowledge/build'
import { openKnowledgeBase } from '../../knowledge/knowledge-base'
import { dataDir as defaultDataDir } from '../../paths'
import { createDrugResolver } from '../../drugs/load'
import { applyOverrides } from '../../drugs/overrides'
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
  const kbPath = options.knowledgeBasePath ?? defaultKnowledgeBasePath()
  const db = openDatabase(options.databasePath)
  const ddi = DdiService.open(kbPath)
  const kb = openKnowledgeBase(kbPath)
  try {
    // Ordered drugs resolve through the one drug resolver, with this database's local overrides.
    const resolver = createDrugResolver({ dataDir: options.dataDir ?? defaultDataDir(), kbPath })
    applyOverrides(resolver, db)
    const app = createCdsServer({ db, cards: new CdsCardBuilder(ddi, kb, resolver), auth: options.auth ? new CdsAuthenticator(options.auth) : null })
    const calls = db.prepare(`SELECT count(*) FROM audit_log WHERE kind = 'cds-hooks-call' AND created_at >= ?`).pluck()
    return {
      app,
      callsSince: (iso) => calls.get(iso) as number,
      async close() {
        await app.close()
        ddi.close()
        kb.close()
        db.close()
      }
    }
  } catch (error) {
    ddi.close()
    kb.close()
    db.close()
    throw error
  }
}

/** Loopback addresses: the only ones a service without authentication may listen on. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}
