// The model card: what a model is (family, paper), what it was trained on and under which licenses, how
// it scored (metrics.json, with 95% confidence intervals over the cross-validation folds), its threshold,
// modalities and the execution provider its session actually runs on.
import type { MetricGroup, MetricValue, ModelCard } from '../../../shared/domain/manifest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { getActiveModelId } from './active-model'
import type { ModelRegistry } from './registry'
import type { Db } from '../db/database'

/** Labels of the metrics the training pipeline writes (training/medrec_training/metrics.py). */
const METRIC_LABELS: Record<string, { label: string; description: string; format: MetricValue['format'] }> = {
  jaccard: { label: 'Jaccard', description: 'overlap of the recommended and the prescribed classes per visit', format: 'score' },
  f1: { label: 'F1', description: 'harmonic mean of precision and recall per visit', format: 'score' },
  prauc: { label: 'PR-AUC', description: 'area under the precision–recall curve per visit', format: 'score' },
  precision: { label: 'Precision', description: 'share of recommended classes that were prescribed', format: 'score' },
  recall: { label: 'Recall', description: 'share of prescribed classes that were recommended', format: 'score' },
  meds: { label: 'Classes per combination', description: 'mean number of recommended ATC3 classes', format: 'count' },
  ece: { label: 'Calibration error (ECE)', description: 'expected calibration error of the probabilities; lower is better', format: 'score' },
  visits: { label: 'Evaluated visits', description: 'visits in each test fold', format: 'count' },
  patients: { label: 'Evaluated patients', description: 'patients in each test fold', format: 'count' }
}

const GROUP_TITLES: Record<string, string> = {
  summary: 'All evaluated visits',
  multiVisitSummary: 'Patients with two or more visits'
}

interface IntervalJson {
  mean: number
  ci95?: [number, number] | null
  folds?: number[]
}

const isInterval = (value: unknown): value is IntervalJson =>
  typeof value === 'object' && value !== null && typeof (value as IntervalJson).mean === 'number'

function metricValue(key: string, interval: IntervalJson, ddiMatrices: Record<string, string>): MetricValue {
  const known = METRIC_LABELS[key]
  const ddiMatrix = key.startsWith('ddi_') ? key.slice(4) : null
  const ci = Array.isArray(interval.ci95) && interval.ci95.length === 2 ? ([interval.ci95[0], interval.ci95[1]] as [number, number]) : null
  return {
    key,
    label: known?.label ?? (ddiMatrix ? `DDI rate (${ddiMatrix})` : key),
    description: known?.description ?? (ddiMatrix ? (ddiMatrices[ddiMatrix] ?? 'share of interacting class pairs in the recommended combinations') : null),
    mean: interval.mean,
    ci95: ci,
    folds: Array.isArray(interval.folds) ? interval.folds.filter((v) => typeof v === 'number') : [],
    format: known?.format ?? (ddiMatrix ? 'rate' : 'score')
  }
}

/** The metric groups of metrics.json (crossValidation.summary and any other {key: {mean, ci95, folds}} table). */
export function readMetrics(text: string): ModelCard['metrics'] {
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(text) as Record<string, unknown>
  } catch (error) {
    return { evaluation: null, cohort: null, groups: [], groundTruth: [], error: `metrics.json is not valid JSON (${(error as Error).message}).` }
  }
  const ddiMatrices = (typeof raw.ddiMatrices === 'object' && raw.ddiMatrices !== null ? raw.ddiMatrices : {}) as Record<string, string>
  const crossValidation = (typeof raw.crossValidation === 'object' && raw.crossValidation !== null ? raw.crossValidation : {}) as Record<string, unknown>
  const groups: MetricGroup[] = []
  for (const [id, table] of Object.entries(crossValidation)) {
    if (typeof table !== 'object' || table === null || Array.isArray(table)) continue
    const metrics = Object.entries(table as Record<string, unknown>)
      .filter((entry): entry is [string, IntervalJson] => isInterval(entry[1]))
      .map(([key, interval]) => metricValue(key, interval, ddiMatrices))
    if (metrics.length > 0) groups.push({ id, title: GROUP_TITLES[id] ?? id, metrics })
  }
  const groundTruthRaw = (typeof raw.groundTruth === 'object' && raw.groundTruth !== null ? raw.groundTruth : {}) as Record<string, unknown>
  const groundTruth = Object.entries(groundTruthRaw)
    .filter((entry): entry is [string, number] => typeof entry[1] === 'number')
    .map(([key, value]) => ({ key, label: metricValue(key, { mean: value }, ddiMatrices).label, value }))
  return {
    evaluation: typeof raw.evaluation === 'string' ? raw.evaluation : null,
    cohort: typeof raw.cohort === 'string' ? raw.cohort : null,
    groups,
    groundTruth,
    error: groups.length === 0 ? (typeof raw.note === 'string' ? `No evaluation: ${raw.note}.` : 'metrics.json holds no evaluated metrics.') : null
  }
}

/** The card of a model (default: the active one, else the first valid one). */
export async function modelCard(db: Db, registry: ModelRegistry, modelId: string | null): Promise<ModelCard> {
  const activeId = getActiveModelId(db)
  const model = await registry.resolve(modelId, activeId)
  const { manifest, summary, session, directory } = model
  let metrics: ModelCard['metrics']
  try {
    metrics = readMetrics(readFileSync(join(directory, manifest.metricsFile), 'utf8'))
  } catch (error) {
    metrics = { evaluation: null, cohort: null, groups: [], groundTruth: [], error: `${manifest.metricsFile} could not be read (${(error as Error).message}).` }
  }
  const { models } = await registry.list(activeId)
  return {
    summary,
    active: activeId === manifest.id || (activeId === null && models[0]?.id === manifest.id),
    paper: manifest.paper,
    thresholdChosenOn: manifest.thresholdChosenOn ?? null,
    modalities: manifest.modalities,
    inputs: manifest.inputs,
    limits: manifest.limits,
    onnxSha256: manifest.onnx.sha256,
    provider: session.provider,
    loadMs: Math.round(session.loadMs),
    metrics
  }
}
