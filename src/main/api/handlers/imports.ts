// The import screen's methods (src/shared/api/imports.ts): a FHIR folder or file planned (dry run) and
// imported with the FHIR importer's guarantees (staged, one transaction, refused when it would alter stored
// rows unless the user confirmed the plan). One import at a time per app.
import { InvalidRequestError, RefusedError } from '../../services/errors'
import { ImportError } from '../../services/imports/errors'
import { importFhir } from '../../services/imports/fhir'
import { ImportRefusedError } from '../../services/imports/safety'
import type { DomainHandlers, HandlerContext } from './types'

export function importsHandlers(context: HandlerContext): DomainHandlers<'imports:'> {
  let running: string | null = null
  const run = async <T>(path: string, work: () => Promise<T>): Promise<T> => {
    if (running !== null) throw new RefusedError(`An import of ${running} is in progress; wait for it to finish.`)
    running = path
    try {
      return await work()
    } catch (error) {
      // The importer's refusals and bad input (file, line and reason) are the user's to fix, not faults.
      if (error instanceof ImportRefusedError) throw new RefusedError(`${error.message} Tick "Replace stored rows" after checking the plan to apply it.`)
      if (error instanceof ImportError) throw new InvalidRequestError(error.message, 'path')
      throw error
    } finally {
      running = null
    }
  }
  return {
    'imports:fhir-plan': (request) => run(request.path, () => importFhir(context.db, { input: request.path, dryRun: true })),
    'imports:fhir-run': (request) => run(request.path, () => importFhir(context.db, { input: request.path, replace: request.replace }))
  }
}
