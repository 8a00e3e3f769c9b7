// Prints the top entries of a V8 CPU profile (.cpuprofile, as written by node --cpu-prof or
// `npm run bench:import -- --cpu-prof <dir>`): self time per function and per file, so a before/after
// profile can be compared in a note without a browser.
//
//   npx tsx bench/cpu-profile-top.ts <file.cpuprofile | dir> [--top 20]
//
// A folder means its newest .cpuprofile. Self time is the time spent in the function itself; native
// work (SQLite, zlib, the UTF-8 decoder) shows under the JS function that called into it when V8 cannot
// see inside, or as "(program)" / "(garbage collector)".

import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, join, relative } from 'node:path'
import { parseArgs } from 'node:util'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

function newestProfile(path: string): string {
  if (!statSync(path).isDirectory()) return path
  const files = readdirSync(path)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(path, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
  if (files.length === 0) throw new Error(`no .cpuprofile in ${path}`)
  return files[0]!
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '20' } }, allowPositionals: true })
  if (positionals.length !== 1) throw new Error('usage: cpu-profile-top.ts <file.cpuprofile | dir> [--top 20]')
  const file = newestProfile(positionals[0]!)
  const top = Number(values.top)
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfMicros = new Map<number, number>()
  profile.samples.forEach((id, i) => selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const total = profile.endTime - profile.startTime
  const cwd = process.cwd()
  const where = (url: string): string => (url === '' ? '(native)' : relative(cwd, url.replace(/^file:\/\//, '')) || basename(url))

  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)!.callFrame
    const name = `${frame.functionName || '(anonymous)'}  ${where(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros)
    const fileKey = where(frame.url)
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + micros)
  }
  const share = (micros: number) => `${((100 * micros) / total).toFixed(1).padStart(5)}%  ${(micros / 1e6).toFixed(2).padStart(7)} s`
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s profiled`)
  console.log(`\nTop ${top} functions by self time:`)
  for (const [name, micros] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${share(micros)}  ${name}`)
  console.log(`\nTop ${Math.min(top, 12)} files by self time:`)
  for (const [name, micros] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, Math.min(top, 12))) console.log(`  ${share(micros)}  ${name}`)
}

main()
