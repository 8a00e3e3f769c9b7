// The RxNorm code table (resources/rxnorm-codes.csv): RxNorm concepts seen in the open FHIR data, each with
// the ingredients' ATC5 codes the resolver gives its RxNorm display name. FHIR resources carry the code
// beside (or instead of) a name, so the resolver reads the code first and the text only when the code is
// not in the table. Only what the open data holds is kept: codes and names as the Synthea sample writes
// them (Apache-2.0); RxNorm identifiers and names are the US National Library of Medicine's, free to use.
// `npm run rxnorm-table` regenerates the file from the sample.
import { createGunzip } from 'node:zlib'
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { readCsvObjects } from '../imports/csv'
import type { CodeInfo } from './route'

export const RXNORM_SYSTEM = 'http://www.nlm.nih.gov/research/umls/rxnorm'

export interface RxnormEntry {
  /** The RxNorm display name the codes were derived from. */
  display: string
  /** ATC5 code of each ingredient, in the order the name gives them. */
  atc5: string[]
}

/** Reads the table; a malformed row (code, ATC5 code not in the WHO index, duplicate) stops with file:line. */
export function readRxnormTable(path: string, codeInfo: ReadonlyMap<string, CodeInfo>): Map<string, RxnormEntry> {
  const table = new Map<string, RxnormEntry>()
  if (!existsSync(path)) return table
  const { rows } = readCsvObjects(path, ['rxnorm', 'display', 'atc5', 'resolved_by'])
  for (const { line, values } of rows) {
    const code = values.rxnorm!.trim()
    if (!/^\d{1,10}$/.test(code)) throw new Error(`${path}:${line}: "${values.rxnorm}" is not an RxNorm code (digits only).`)
    if (table.has(code)) throw new Error(`${path}:${line}: RxNorm ${code} is listed twice.`)
    const atc5 = values.atc5!.split('+').map((c) => c.trim()).filter(Boolean)
    if (atc5.length === 0) throw new Error(`${path}:${line}: RxNorm ${code} has no ATC5 code.`)
    for (const c of atc5) {
      if (!/^[A-Z]\d\d[A-Z]{2}\d\d$/.test(c) || !codeInfo.has(c)) throw new Error(`${path}:${line}: "${c}" is not an ATC5 code of the WHO index.`)
    }
    table.set(code, { display: values.display!.trim(), atc5 })
  }
  return table
}

export interface RxnormCoding {
  code: string
  display: string
}

/**
 * Every distinct RxNorm coding of the medication resources (MedicationRequest/Statement/Administration/
 * Dispense medicationCodeableConcept, Medication.code) in FHIR bundles or NDJSON files (.json, .ndjson,
 * optionally .gz) under `input`.
 */
export async function collectRxnormCodings(input: string): Promise<RxnormCoding[]> {
  const files = statSync(input).isDirectory()
    ? readdirSync(input)
        .filter((f) => /\.(?:json|ndjson)(?:\.gz)?$/.test(f))
        .sort()
        .map((f) => join(input, f))
    : [input]
  const found = new Map<string, string>()
  const visit = (resource: Record<string, unknown> | undefined): void => {
    if (!resource || typeof resource !== 'object') return
    const type = resource.resourceType
    if (type === 'Bundle') {
      for (const entry of (resource.entry as Array<{ resource?: Record<string, unknown> }> | undefined) ?? []) visit(entry.resource)
      return
    }
    const concept = (type === 'Medication' ? resource.code : resource.medicationCodeableConcept) as
      | { coding?: Array<{ system?: string; code?: string; display?: string }>; text?: string }
      | undefined
    if (!concept || !/^Medication/.test(String(type))) return
    for (const c of concept.coding ?? []) {
      if (c.system !== RXNORM_SYSTEM || !c.code) continue
      const display = c.display ?? concept.text ?? ''
      if (display && !found.has(c.code)) found.set(c.code, display)
    }
  }
  for (const file of files) {
    const text = await readText(file)
    if (!/\.ndjson(?:\.gz)?$/.test(file)) visit(JSON.parse(text))
    else for (const line of text.split('\n')) if (line.trim()) visit(JSON.parse(line))
  }
  return [...found].map(([code, display]) => ({ code, display })).sort((a, b) => Number(a.code) - Number(b.code))
}

async function readText(file: string): Promise<string> {
  const chunks: Buffer[] = []
  const stream = file.endsWith('.gz') ? createReadStream(file).pipe(createGunzip()) : createReadStream(file)
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
