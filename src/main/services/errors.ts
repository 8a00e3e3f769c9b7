// The three ways a request can fail that are not the app's fault; the API dispatcher maps each to its code
// (src/main/api/dispatcher.ts) by the error's name, so a service throws one of these and never imports the API.
// Anything else that escapes a handler is a real fault: 'internal'.

/** The caller asked for something malformed or meaningless (a drug nobody knows, a key that is not a warning). */
export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError'
  constructor(
    message: string,
    /** The request field at fault, e.g. "proposed[2]" or "warningKeys". */
    readonly field?: string
  ) {
    super(message)
  }
}

/** The thing asked for does not exist (a patient, a model, an audit row). */
export class NotFoundError extends Error {
  override name = 'NotFoundError'
}

/** A well-formed request that a rule forbids (a refused model, a review without interaction checks). */
export class RefusedError extends Error {
  override name = 'RefusedError'
}
