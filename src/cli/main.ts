import { UsageError } from './command'
import { COMMANDS } from './commands/index'
import { isBusyError } from '../main/services/db/busy'

// Each command lives in its own module under ./commands and is loaded only when called.
const commands = COMMANDS

function overview(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length), 8)
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  return ['Usage: medrec <command> [options]', '', 'Commands:', ...lines, '', 'Run "medrec <command> --help" for a command\'s options.'].join('\n')
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(overview())
    return name ? 0 : 1
  }
  const entry = commands[name]
  if (!entry) {
    console.error(`Unknown command "${name}".\n\n${overview()}`)
    return 2
  }
  const command = await entry.load()
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage)
    return 0
  }
  try {
    return await command.run(rest)
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`medrec ${name}: ${error.message}\n\n${command.usage}`)
      return 2
    }
    if (isBusyError(error)) {
      // Another process (an import's final copy) holds the write lock: retryable, exit 75 (EX_TEMPFAIL).
      console.error(`medrec ${name}: the patient database is busy (another process is writing to it); nothing was changed. Try again in a moment.`)
      return 75
    }
    console.error(`medrec ${name}: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
}
