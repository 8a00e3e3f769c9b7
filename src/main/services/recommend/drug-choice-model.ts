// The within-class drug choice artefact (models/drug-choice/, written by training/medrec_training/drug_choice.py):
// per ATC3 class, how often training visits that got the class were given each member drug (ATC5), overall and
// per diagnosis/procedure code. One artefact serves every class model (the member distribution does not depend on
// which model recommended the class). rank() computes the same formula as the Python side (drug-choice-parity.json):
//   P(m | c)    = (n_c(m) + alpha) / (sum n_c + alpha |M_c|)
//   P(m | c, K) = normalised mean over the visit's stored codes k of (n_ck(m) + beta P(m | c)) / (n_ck + beta),
//                 P(m | c) when no code of the visit is stored for the class.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { defaultDrugChoiceDirectory } from '../paths'

const ATC3 = /^[A-Z]\d\d[A-Z]$/
const ATC5 = /^[A-Z]\d\d[A-Z]{2}\d\d$/

const counts = z.record(z.string().regex(ATC5, 'an ATC level-5 code'), z.number().int().nonnegative())
const artefactSchema = z.object({
  alpha: z.number().positive(),
  beta: z.number().positive(),
  minSupport: z.number().int().positive(),
  classes: z.record(
    z.string().regex(ATC3, 'an ATC level-3 class'),
    z.object({
      visits: z.number().int().nonnegative(),
      members: counts,
      codes: z.record(z.string().min(3), z.object({ visits: z.number().int().positive(), members: counts }))
    })
  )
})
const manifestSchema = z.object({
  artefact: z.literal('drug-choice'),
  schemaVersion: z.literal(1),
  version: z.string(),
  file: z.object({ file: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  provenance: z.object({ sources: z.array(z.object({ name: z.string(), license: z.string() })).min(1), split: z.string(), trainedOn: z.string() })
})

type Artefact = z.infer<typeof artefactSchema>

export class DrugChoiceError extends Error {
  override name = 'DrugChoiceError'
}

/** The key of a visit's code in the artefact: kind letter, code system and code as stored ("d:ICD-10-CM:I10"). */
export function drugChoiceCodeKey(kind: 'diagnosis' | 'procedure', system: string | null, code: string): string {
  return `${kind === 'diagnosis' ? 'd' : 'p'}:${system ?? ''}:${code}`
}

/** The code keys of a visit's diagnoses then procedures: what the within-class choice is conditioned on. */
export function visitCodeKeys(visit: {
  diagnoses: ReadonlyArray<{ system: string | null; code: string }>
  procedures: ReadonlyArray<{ system: string | null; code: string }>
}): string[] {
  return [
    ...visit.diagnoses.map((c) => drugChoiceCodeKey('diagnosis', c.system, c.code)),
    ...visit.procedures.map((c) => drugChoiceCodeKey('procedure', c.system, c.code))
  ]
}

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`)
    .join('; ')
}

export class DrugChoiceModel {
  private constructor(
    readonly version: string,
    readonly sha256: string,
    private readonly artefact: Artefact
  ) {}

  /** Reads and checks manifest.json and the artefact it names (schema and sha256); a clear error names the file. */
  static load(directory: string): DrugChoiceModel {
    const manifestPath = join(directory, 'manifest.json')
    if (!existsSync(manifestPath)) throw new DrugChoiceError(`${manifestPath}: missing (build it with "cd training && python -m medrec_training.drug_choice").`)
    let manifestJson: unknown
    try {
      manifestJson = JSON.parse(readFileSync(manifestPath, 'utf8'))
    } catch (error) {
      throw new DrugChoiceError(`${manifestPath}: not valid JSON (${error instanceof Error ? error.message : String(error)}).`)
    }
    const manifest = manifestSchema.safeParse(manifestJson)
    if (!manifest.success) throw new DrugChoiceError(`${manifestPath}: ${issues(manifest.error)}.`)
    const filePath = join(directory, manifest.data.file.file)
    if (!existsSync(filePath)) throw new DrugChoiceError(`${filePath}: missing (named by ${manifestPath}).`)
    const bytes = readFileSync(filePath)
    const sha256 = createHash('sha256').update(bytes).digest('hex')
    if (sha256 !== manifest.data.file.sha256) {
      throw new DrugChoiceError(`${filePath}: sha256 ${sha256} differs from ${manifest.data.file.sha256} declared in manifest.json; refusing a changed file.`)
    }
    let artefactJson: unknown
    try {
      artefactJson = JSON.parse(bytes.toString('utf8'))
    } catch (error) {
      throw new DrugChoiceError(`${filePath}: not valid JSON (${error instanceof Error ? error.message : String(error)}).`)
    }
    const artefact = artefactSchema.safeParse(artefactJson)
    if (!artefact.success) throw new DrugChoiceError(`${filePath}: ${issues(artefact.error)}.`)
    return new DrugChoiceModel(manifest.data.version, sha256, artefact.data)
  }

  /** Per class: its members, their prior (smoothed frequency) and per-code counts aligned with them, built on first use. */
  private readonly prepared = new Map<string, PreparedClass | null>()

  private classOf(atc3: string): PreparedClass | null {
    let cached = this.prepared.get(atc3)
    if (cached === undefined) {
      const entry = this.artefact.classes[atc3]
      const members = entry ? Object.entries(entry.members) : []
      if (!entry || members.length === 0) cached = null
      else {
        const { alpha } = this.artefact
        const total = members.reduce((sum, [, n]) => sum + n, 0) + alpha * members.length
        const names = members.map(([m]) => m)
        const codes = new Map<string, { visits: number; counts: Float64Array }>()
        // A member a code never saw counts 0, as the artefact's missing entry does.
        for (const [key, byCode] of Object.entries(entry.codes)) {
          codes.set(key, { visits: byCode.visits, counts: Float64Array.from(names, (m) => byCode.members[m] ?? 0) })
        }
        cached = { members: names, prior: Float64Array.from(members, ([, n]) => (n + alpha) / total), codes }
      }
      this.prepared.set(atc3, cached)
    }
    return cached
  }

  /**
   * The class's members seen in training, most probable first given the visit's code keys; [] for a class it
   * lacks. The same arithmetic, in the same order, as summing per member over the distinct codes in the order
   * given (exact results); a class's prior and per-code counts are laid out once (recommendations rank every
   * class they show).
   */
  rank(atc3: string, codeKeys: readonly string[]): Array<{ atc5: string; probability: number }> {
    const cached = this.classOf(atc3)
    if (!cached) return []
    const { members, prior, codes } = cached
    const { beta } = this.artefact
    let probability: Float64Array = prior
    let mixed: Float64Array | null = null
    const used: Array<{ visits: number; counts: Float64Array }> = []
    for (const key of codeKeys) {
      const byCode = codes.get(key)
      // A repeated key finds the same entry: each code counts once, at its first place.
      if (byCode === undefined || used.includes(byCode)) continue
      used.push(byCode)
      mixed ??= new Float64Array(members.length)
      for (let i = 0; i < members.length; i++) mixed[i] = mixed[i]! + (byCode.counts[i]! + beta * prior[i]!) / (byCode.visits + beta)
    }
    if (mixed !== null) {
      let sum = 0
      for (let i = 0; i < mixed.length; i++) sum += mixed[i]!
      probability = mixed.map((v) => v / sum)
    }
    return members
      .map((atc5, i) => ({ atc5, probability: probability[i]! }))
      .sort((a, b) => b.probability - a.probability || (a.atc5 < b.atc5 ? -1 : 1))
  }
}

interface PreparedClass {
  members: string[]
  prior: Float64Array
  codes: Map<string, { visits: number; counts: Float64Array }>
}

const loaded = new Map<string, DrugChoiceModel | { unavailable: string }>()

/** The artefact of `directory` (default models/drug-choice), loaded once per process; its problem when it cannot be used. */
export function loadDrugChoice(directory: string = defaultDrugChoiceDirectory()): DrugChoiceModel | { unavailable: string } {
  let result = loaded.get(directory)
  if (!result) {
    try {
      result = DrugChoiceModel.load(directory)
    } catch (error) {
      if (!(error instanceof DrugChoiceError)) throw error
      result = { unavailable: error.message }
    }
    loaded.set(directory, result)
  }
  return result
}
