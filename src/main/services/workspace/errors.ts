// A request the workspace services refuse because of what it asks for (an unknown drug, a decision on a
// warning that does not exist). Named NotFoundError so the API dispatcher passes its message through as
// is (code 'not-found') instead of reporting an internal failure.
export class InvalidRequestError extends Error {
  override name = 'NotFoundError'
}
