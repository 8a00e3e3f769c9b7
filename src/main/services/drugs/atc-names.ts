// ATC class names for every level, from the WHO ATC index (<dataDir>/knowledge/atc/WHO_ATC-DDD_*.csv),
// with the ethos-paper atc_coding table filling codes the current WHO index no longer lists (the
// mapping tables still use some retired codes).
import { readCsv } from '../imports/csv'

/** WHO writes levels 1-3 in capitals; these words keep them when the name is put in sentence case. */
const KEEP_UPPER = new Set(['ACE', 'GORD', 'ACTH', 'ADHD', 'AIDS', 'HIV', 'ATC', 'HMG', 'COA', 'DPP', 'GLP', 'SGLT2', 'ARB', 'II', 'III', 'IV', 'VI', 'VII'])

/** "OTHER ANALGESICS AND ANTIPYRETICS" → "Other analgesics and antipyretics"; "ACE INHIBITORS, PLAIN" → "ACE inhibitors, plain". */
export function atcDisplayName(name: string): string {
  const text = name.trim().replace(/\b[A-Z][A-Z]+\b/g, (word) => (KEEP_UPPER.has(word) ? word : word.toLowerCase()))
  return text.charAt(0).toUpperCase() + text.slice(1)
}

/** Loads code → display name; the WHO name wins over the fallback table. */
export async function loadAtcNames(whoFile: string, fallbackFile: string | null): Promise<Map<string, string>> {
  const names = new Map<string, string>()
  for await (const batch of readCsv({ path: whoFile, displayName: whoFile }, { required: ['atc_code', 'atc_name'] })) {
    for (let i = 0; i < batch.count; i++) {
      const code = batch.fields[i * 2]!.trim()
      const name = batch.fields[i * 2 + 1]!.trim()
      // The WHO index repeats a code once per DDD route; the first row names it.
      if (code !== '' && name !== '' && !names.has(code)) names.set(code, atcDisplayName(name))
    }
  }
  if (fallbackFile) {
    for await (const batch of readCsv({ path: fallbackFile, displayName: fallbackFile }, { required: ['atc_code', 'atc_name'] })) {
      for (let i = 0; i < batch.count; i++) {
        const code = batch.fields[i * 2]!.trim()
        const name = batch.fields[i * 2 + 1]!.trim()
        if (code !== '' && name !== '' && !names.has(code)) names.set(code, atcDisplayName(name))
      }
    }
  }
  return names
}

/** ATC codes for which the WHO index defines a DDD by mouth (adm_r "O"): the substance's oral systemic use. */
export async function loadOralDddCodes(whoFile: string): Promise<Set<string>> {
  const codes = new Set<string>()
  for await (const batch of readCsv({ path: whoFile, displayName: whoFile }, { required: ['atc_code', 'ddd', 'adm_r'] })) {
    for (let i = 0; i < batch.count; i++) {
      const [code, ddd, route] = batch.fields.slice(i * batch.width, i * batch.width + 3).map((f) => f.trim())
      if (code && ddd && ddd !== 'NA' && route === 'O') codes.add(code)
    }
  }
  return codes
}
