// The CDS Hooks service run inside the app for a pilot (Settings → "CDS Hooks service"): the same service
// as `medrec serve`, on its own connection to the app's patient database, at most one at a time. The same
// rules as the command: without a trusted-issuer configuration it answers unauthenticated calls, so it may
// then only listen on a loopback address.
import type { CdsStartRequest } from '../../../../shared/api/interop'
import type { CdsServiceStatus } from '../../../../shared/domain/cds-hooks'
import { InvalidRequestError, RefusedError } from '../../errors'
import { isLoopback, loadAuthConfig, openCdsService, type OpenedCdsService } from './index'

interface Running {
  service: OpenedCdsService
  address: string
  authentication: 'jwt' | 'none'
  trustedIssuers: string[]
  startedAt: string
}

export class CdsPilotService {
  private running: Running | null = null
  /** A start or stop in progress: the two never overlap. */
  private busy: Promise<unknown> = Promise.resolve()

  constructor(private readonly options: { databasePath: string; knowledgeBasePath?: string; dataDir?: string }) {}

  status(): CdsServiceStatus {
    const r = this.running
    if (!r) return { state: 'stopped', address: null, discoveryUrl: null, authentication: null, trustedIssuers: [], startedAt: null, callsAnswered: 0 }
    return {
      state: 'running',
      address: r.address,
      discoveryUrl: `${r.address}/cds-services`,
      authentication: r.authentication,
      trustedIssuers: r.trustedIssuers,
      startedAt: r.startedAt,
      callsAnswered: r.service.callsSince(r.startedAt)
    }
  }

  start(request: CdsStartRequest): Promise<CdsServiceStatus> {
    return this.serially(async () => {
      if (this.running) throw new RefusedError(`The CDS Hooks service is already running on ${this.running.address}; stop it first.`)
      if (request.authConfigPath === null && !isLoopback(request.host))
        throw new InvalidRequestError(`Without a trusted-issuer configuration the service answers unauthenticated calls, so it may only listen on a loopback address (127.0.0.1), not ${request.host}.`, 'host')
      let auth = null
      if (request.authConfigPath !== null) {
        try {
          auth = loadAuthConfig(request.authConfigPath)
        } catch (error) {
          throw new InvalidRequestError((error as Error).message, 'authConfigPath')
        }
      }
      const service = await openCdsService({ ...this.options, auth })
      let address: string
      try {
        address = await service.app.listen({ host: request.host, port: request.port })
      } catch (error) {
        await service.close()
        const code = (error as NodeJS.ErrnoException).code
        if (code === 'EADDRINUSE') throw new RefusedError(`Port ${request.port} on ${request.host} is already in use; choose another port.`)
        if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new InvalidRequestError(`${request.host} is not an address of this computer.`, 'host')
        if (code === 'EACCES') throw new RefusedError(`Listening on port ${request.port} needs administrator rights; choose a port above 1023.`)
        throw error
      }
      // The pilot never keeps the app alive on its own: quitting the app ends it.
      service.app.server.unref()
      this.running = {
        service,
        address,
        authentication: auth ? 'jwt' : 'none',
        trustedIssuers: auth ? auth.trustedIssuers.map((i) => i.iss) : [],
        startedAt: new Date().toISOString()
      }
      return this.status()
    })
  }

  stop(): Promise<CdsServiceStatus> {
    return this.serially(async () => {
      const r = this.running
      this.running = null
      if (r) await r.service.close()
      return this.status()
    })
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.busy.then(work, work)
    this.busy = next.catch(() => undefined)
    return next
  }
}
