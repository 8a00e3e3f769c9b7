// Code titles are never degraded by an import: a stored title is replaced only by one that is
// demonstrably better. A second import of a damaged copy of the ICD dictionary ("M?ni?re's disease"
// where the stored title reads "Ménière's disease") must leave the stored title alone.

/** Replacement characters: U+FFFD, or '?' standing inside a word where a letter was lost ("M?ni?re"). */
export function damageScore(title: string): number {
  return (title.match(/\uFFFD/g)?.length ?? 0) + (title.match(/[\p{L}]\?(?=[\p{L}])/gu)?.length ?? 0)
}

/**
 * True when `offered` should replace `stored`: it has fewer replacement characters, or as few and it
 * extends a truncated stored title. A shorter truncation, a damaged copy, or merely different wording
 * of the same quality keeps the stored title.
 */
export function isBetterTitle(offered: string, stored: string): boolean {
  if (offered === stored) return false
  const a = damageScore(offered)
  const b = damageScore(stored)
  if (a !== b) return a < b
  const offeredTrim = offered.trim()
  const storedTrim = stored.trim()
  return offeredTrim.length > storedTrim.length && offeredTrim.startsWith(storedTrim)
}
