import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { isLoopback, loadAuthConfig, openCdsService } from '../../main/services/interop/cds-hooks'
import { defaultDatabasePath } from '../../main/services/paths'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'

const usage = `Usage: medrec serve [--host 127.0.0.1] [--port 8080] --auth-config <file> [options]

Runs the CDS Hooks 2.0 service: GET /cds-services lists patient-view, order-select and order-sign
services; each answers with cards (graded drug–drug interactions with their source and licence,
allergy matches, substitutions within the ATC class) from the request's prefetch or, where the EHR
sent none, from the patient database. Feedback (accepted / overridden) goes to the audit log.
See docs/ehr-integration.md.

Options:
  --host <addr>          listening address (default 127.0.0.1: loopback only)
  --port <n>             port (default 8080)
  --auth-config <file>   JSON: { "trustedIssuers": [{ "iss": "<EHR issuer>", "jwks": {…} | "jwksFile": "…" }],
                         "publicBaseUrl": "<URL the EHR calls>" }; requests need a Bearer JWT signed by one
  --insecure-no-auth     accept unauthenticated requests (refused unless --host is a loopback address)
  --db <path>            ${DEFAULT_DB_HELP}
  --kb <path>            drug knowledge base (default resources/knowledge.sqlite)
  --data-dir <path>      open data folder with the drug mapping tables (default $MEDREC_DATA_DIR or ../shared/data)`

export const command: CliCommand = {
  name: 'serve',
  summary: 'run the CDS Hooks 2.0 service for an EHR',
  usage,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8080' },
        'auth-config': { type: 'string' },
        'insecure-no-auth': { type: 'boolean', default: false },
        db: { type: 'string' },
        kb: { type: 'string' },
        'data-dir': { type: 'string' }
      }
    })
    const port = Number(values.port)
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port "${values.port}" is not a port number.`)
    if (!values['auth-config'] && !values['insecure-no-auth']) throw new UsageError('--auth-config is required (CDS Hooks clients authenticate with a signed JWT).')
    if (values['insecure-no-auth'] && !isLoopback(values.host)) throw new UsageError(`--insecure-no-auth is only allowed on a loopback address, not ${values.host}.`)
    const service = await openCdsService({
      databasePath: resolve(values.db ?? defaultDatabasePath()),
      knowledgeBasePath: values.kb,
      dataDir: values['data-dir'],
      auth: values['auth-config'] ? loadAuthConfig(values['auth-config']) : null
    })
    const address = await service.app.listen({ host: values.host, port })
    console.error(`CDS Hooks service on ${address}/cds-services (${values['insecure-no-auth'] ? 'NO authentication' : 'JWT bearer authentication'}). Ctrl-C stops it.`)
    await new Promise<void>((done) => {
      process.once('SIGINT', done)
      process.once('SIGTERM', done)
    })
    await service.close()
    return 0
  }
}
