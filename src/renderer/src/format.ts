import type { EhrFormat } from '../../shared/domain/patient'

const SOURCE_LABELS: Record<EhrFormat, string> = {
  'mimic-iv': 'MIMIC-IV',
  'mimic-iii': 'MIMIC-III',
  eicu: 'eICU',
  fhir: 'FHIR R4'
}

export function sourceLabel(source: EhrFormat): string {
  return SOURCE_LABELS[source]
}

export function formatCount(count: number): string {
  return count.toLocaleString('en-US')
}

/** "2180-05-06 22:23" from an ISO time, as recorded (no time-zone conversion: sources store local time). */
export function formatDateTime(iso: string | null): string {
  if (!iso) return '—'
  const [date, time] = iso.split('T')
  return time ? `${date} ${time.slice(0, 5)}` : (date ?? iso)
}

export function formatDate(iso: string | null): string {
  return iso ? (iso.split('T')[0] ?? iso) : '—'
}

/** "3 days" / "14 h" between admission and discharge, or null when either is missing. */
export function lengthOfStay(admit: string | null, discharge: string | null): string | null {
  if (!admit || !discharge) return null
  const hours = (Date.parse(discharge) - Date.parse(admit)) / 3_600_000
  if (!Number.isFinite(hours) || hours < 0) return null
  if (hours < 24) return `${Math.round(hours)} h`
  const days = Math.round(hours / 24)
  return `${days} day${days === 1 ? '' : 's'}`
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${formatCount(count)} ${count === 1 ? one : many}`
}
