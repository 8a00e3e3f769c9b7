// The fingerprint of an import's inputs, shared by the CSV and the FHIR importers: an unchanged fingerprint means
// the same files were already imported with the same importer, reference tables and local drug overrides.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { basename } from 'node:path'

/**
 * sha256 over `header` (importer and version), the local drug overrides, then each file's label, bytes and size:
 * the import's own files first, then the reference tables it maps drugs with.
 */
export async function fingerprintFiles(
  header: string,
  files: ReadonlyArray<{ label: string; path: string }>,
  referenceFiles: readonly string[],
  overrides = ''
): Promise<string> {
  const hash = createHash('sha256')
  hash.update(`${header}\n`)
  if (overrides !== '' && overrides !== '[]') hash.update(`overrides ${overrides}\n`)
  for (const file of [...files, ...referenceFiles.map((path) => ({ label: `reference:${basename(path)}`, path }))]) {
    hash.update(`${file.label}\n`)
    let size = 0
    for await (const chunk of createReadStream(file.path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      size += chunk.length
      hash.update(chunk)
    }
    hash.update(`\n${size}\n`)
  }
  return hash.digest('hex')
}
