#!/usr/bin/env node
// The `medrec` command for hospital IT: the app's services without Electron.
// better-sqlite3 13 needs Node 22+; the project ships Node 22 as the npm `node` package, so an older
// system Node re-runs this script with it.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  const bundled = join(root, 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(bundled)) {
    console.error(`medrec needs Node 22 or newer (this is ${process.version}); run "npm install" first.`)
    process.exit(1)
  }
  const result = spawnSync(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(result.status ?? 1)
}
const { register } = await import('tsx/esm/api')
register()
const { main } = await import('../src/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
