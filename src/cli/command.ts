/** One `medrec` sub-command. run() returns the process exit code. */
export interface CliCommand {
  name: string
  summary: string
  /** Full help text shown by `medrec <name> --help`. */
  usage: string
  run(argv: string[]): Promise<number>
}

/** A user-facing error: main() prints its message alone (no stack) and exits with code 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

export const DEFAULT_DB_HELP = 'path of the patient database (default: $MEDREC_DB or resources/demo.sqlite)'
