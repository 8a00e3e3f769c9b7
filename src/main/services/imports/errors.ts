/**
 * A problem with the input that stops an import (a missing file, a wrong layout, a truncated gzip,
 * a missing mapping table). The message is for the user: it names the file (relative to the
 * imported folder) and, where known, the line. Nothing is written when one is thrown: the import
 * runs in one transaction that is rolled back.
 */
export class ImportError extends Error {
  override name = 'ImportError'

  constructor(
    message: string,
    readonly file: string | null = null,
    readonly line: number | null = null
  ) {
    super(message)
  }
}
