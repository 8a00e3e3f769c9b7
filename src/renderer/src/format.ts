// Formatting shared by the screens: counts, dates, probabilities, timings, drug and source labels.
import type { EhrFormat } from '../../shared/domain/patient'
import type { Severity, DdiSourceInfo } from '../../shared/domain/interaction'
import type { ProviderReport } from '../../shared/domain/manifest'

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

// Clinical screens: probabilities, timings, drug and source labels.
/** 0.9345 → "93.5%"; values under 1% keep one significant decimal ("0.4%"). */
export function percent(value: number, digits = 1): string {
  return `${(value * 100).toFixed(digits)}%`
}

/** A signed difference in percentage points: "+12.3 pp", "−0.4 pp". */
export function signedPoints(value: number, digits = 1): string {
  const points = value * 100
  const text = Math.abs(points).toFixed(digits)
  if (Number(text) === 0) return `±${text} pp`
  return `${points > 0 ? '+' : '−'}${text} pp`
}

export function milliseconds(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`
  if (ms >= 10) return `${Math.round(ms)} ms`
  return `${ms.toFixed(1)} ms`
}

/** Words kept in capitals when a WHO name is softened: roman numerals and short acronyms. */
const KEEP_UPPER = /\b(i{1,3}|iv|vi{0,3}|ix|x|ace|hmg|hiv|gord|nsaids?|h2|glp-1|dpp-4|sglt2|cox-2|hcv|hbv|ige|tnf)\b/g

/** "ANTIARRHYTHMICS, CLASS I AND III" → "Antiarrhythmics, class I and III" (WHO writes names in capitals). */
export function atcName(name: string | null | undefined): string {
  if (!name) return 'name not in the ATC index'
  const softened = name === name.toUpperCase() ? name.toLowerCase() : name
  const fixed = softened.replace(/\(([a-z]{2,5})\)/g, (_, acronym: string) => `(${acronym.toUpperCase()})`).replace(KEEP_UPPER, (word) => word.toUpperCase())
  return fixed.charAt(0).toUpperCase() + fixed.slice(1)
}

/** A DDI service drug label "NAME (CODE)" with the WHO capitals softened. */
export function drugLabel(label: string): string {
  const match = /^(.*) \(([^()]*)\)$/.exec(label)
  if (!match) return atcName(label)
  return `${atcName(match[1] ?? '')} (${match[2] ?? ''})`
}

export const PROVIDER_LABELS: Record<ProviderReport['provider'], string> = {
  cpu: 'CPU',
  cuda: 'NVIDIA CUDA',
  dml: 'DirectML',
  coreml: 'Core ML'
}

export function providerText(report: ProviderReport): string {
  const failed = report.failed.map((f) => PROVIDER_LABELS[f.provider as ProviderReport['provider']] ?? f.provider)
  return `${PROVIDER_LABELS[report.provider]}${failed.length > 0 ? ` (${failed.join(', ')} unavailable)` : ''}`
}

export function severityClass(severity: Severity): string {
  return `severity-${severity.toLowerCase()}`
}

/** "DDInter (open copy…) — CC BY-NC-SA 4.0 (non-commercial use only)" */
export function sourceLine(source: DdiSourceInfo): string {
  return `${source.name} — ${source.license}`
}

export function timeOfDay(iso: string): string {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' })
}
