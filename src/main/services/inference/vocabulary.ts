import type { ModelManifest, ModelVocabularyEntry } from '../../../shared/domain/manifest'
// Maps a patient's codes to a model's input indices: 0 = padding, 1 = unknown code, entry i = index i + 2
// (models/manifest.schema.json). Medication outputs have no offset: column i = medication entry i.

export const PAD_INDEX = 0
export const UNKNOWN_INDEX = 1
export const VOCAB_OFFSET = 2

/** ICD codes appear with and without the dot ("401.9" / "4019"); ATC codes in either case. */
export function normalizeCode(code: string): string {
  return code.trim().replace(/\./g, '').toUpperCase()
}

/** Raw codes memoised per vocabulary at most (a few MB). */
const MAX_MEMOISED_CODES = 200_000

export class CodeVocabulary {
  /** "SYSTEM|CODE" for entries that name their system. */
  private readonly bySystemAndCode = new Map<string, number>()
  /** "CODE" for entries without a system: they match a code of any system. */
  private readonly byCode = new Map<string, number>()
  /** "CODE" → index over all entries, for a code given without its system; null when two systems share it. */
  private readonly anySystem = new Map<string, number | null>()
  /** indexOf's answers by system, then raw code (at most MAX_MEMOISED_CODES; then it starts over). */
  private readonly memo = new Map<string | null, Map<string, number>>()
  private memoSize = 0

  constructor(readonly entries: readonly ModelVocabularyEntry[]) {
    entries.forEach((entry, i) => {
      const code = normalizeCode(entry.code)
      const key = entry.system ? `${entry.system}|${code}` : code
      const map = entry.system ? this.bySystemAndCode : this.byCode
      if (!map.has(key)) map.set(key, i + VOCAB_OFFSET)
      this.anySystem.set(code, this.anySystem.has(code) ? null : i + VOCAB_OFFSET)
    })
  }

  /**
   * The input index of a code, UNKNOWN_INDEX when the model has never seen it. A code given without its
   * system (typed by a user) matches the one entry with that code, if only one system has it.
   */
  indexOf(system: string | null, code: string): number {
    // Memoised by system and raw code: every encoding, occlusion and explanation looks the same codes up again,
    // and normalising each one was a tenth of a recommendation's encoding.
    let bySystem = this.memo.get(system)
    if (!bySystem) {
      bySystem = new Map()
      this.memo.set(system, bySystem)
    }
    let index = bySystem.get(code)
    if (index === undefined) {
      if (this.memoSize >= MAX_MEMOISED_CODES) {
        this.memo.clear()
        this.memoSize = 0
        bySystem = new Map()
        this.memo.set(system, bySystem)
      }
      index = this.lookUp(system, code)
      bySystem.set(code, index)
      this.memoSize++
    }
    return index
  }

  private lookUp(system: string | null, code: string): number {
    const normalized = normalizeCode(code)
    if (system) {
      const exact = this.bySystemAndCode.get(`${system}|${normalized}`)
      if (exact !== undefined) return exact
    }
    const systemless = this.byCode.get(normalized)
    if (systemless !== undefined) return systemless
    return system ? UNKNOWN_INDEX : (this.anySystem.get(normalized) ?? UNKNOWN_INDEX)
  }

  get size(): number {
    return this.entries.length
  }
}

export interface ModelVocabularies {
  diagnosis: CodeVocabulary
  procedure: CodeVocabulary
  /** Medication history inputs use it with the offset; output column i is entries[i]. */
  medication: CodeVocabulary
}

export function vocabulariesOf(manifest: ModelManifest): ModelVocabularies {
  return {
    diagnosis: new CodeVocabulary(manifest.vocabularies.diagnosis.entries),
    procedure: new CodeVocabulary(manifest.vocabularies.procedure.entries),
    // Medications are ATC classes: the system is implied, so match by code alone.
    medication: new CodeVocabulary(manifest.vocabularies.medication.entries.map((e) => ({ ...e, system: undefined })))
  }
}
