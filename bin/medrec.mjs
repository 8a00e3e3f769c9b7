#!/usr/bin/env node
// The `medrec` command for hospital IT: the app's services without Electron.
// better-sqlite3 13 needs Node 22+; the project ships Node 22 as the npm `node` package, so an older
// system Node re-runs this script with it. This process then only waits: the signals that stop it
// (Ctrl-C, kill, a closed terminal) are passed on to the real command, so a stopped import never goes
// on to commit, and it exits as the child did.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  const bundled = join(root, 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(bundled)) {
    console.error(`medrec needs Node 22 or newer (this is ${process.version}); run "npm install" first.`)
    process.exit(1)
  }
  const child = spawn(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  const forward = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
  }
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward)
  child.on('error', (error) => {
    console.error(`medrec: cannot start ${bundled}: ${error.message}`)
    process.exit(1)
  })
  child.on('exit', (code, signal) => {
    if (signal) {
      // End the way the child ended, so a shell or supervisor sees the signal too.
      for (const name of FORWARDED_SIGNALS) process.removeAllListeners(name)
      process.kill(process.pid, signal)
      return
    }
    process.exit(code ?? 1)
  })
} else {
  const { register } = await import('tsx/esm/api')
  register()
  const { main } = await import('../src/cli/main.ts')
  process.exitCode = await main(process.argv.slice(2))
}
