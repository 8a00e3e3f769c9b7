// The workspace services' request errors are the shared ones (services/errors.ts).
export { InvalidRequestError, NotFoundError, RefusedError } from '../errors'
