// Formatting shared by the workspace screens (recommendation, review, model card, settings).
import type { Severity, DdiSourceInfo } from '../../shared/domain/interaction'
import type { ProviderReport } from '../../shared/domain/manifest'

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
