// The project's Python for tests that compare with the training package: .venv/bin/python when the
// checkout has one (npm run setup makes it), else python3; run from training/ so medrec_training imports.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { projectRoot } from '../../src/main/services/paths'

export function projectPython(): string {
  const venv = join(projectRoot(), '.venv', 'bin', 'python')
  return existsSync(venv) ? venv : 'python3'
}

/** Runs `python args…` in training/ with `input` on stdin; returns stdout, throws with stderr on failure. */
export function runTrainingPython(args: string[], input?: string): string {
  const result = spawnSync(projectPython(), args, {
    cwd: join(projectRoot(), 'training'),
    input,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024
  })
  if (result.status !== 0) throw new Error(`python ${args.join(' ')} failed (${result.status}): ${result.stderr}`)
  return result.stdout
}
