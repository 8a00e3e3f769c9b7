// The evaluation as one self-contained HTML file a hospital can file: inline CSS, static SVG charts, no
// script and no network; printable (A4/Letter, tables and figures kept whole).
import type { Interval } from './bootstrap'
import { DRUG_DDI_NAME, type DrugLevelSummary } from './drug-level'
import type { DrugLevelBasis, EvaluationReport, ModelEvaluation } from './evaluate'
import { escapeHtml as h, intervalChart, type IntervalRow, reliabilityChart } from './report-charts'
import type { MetricSummary } from './summary'

const STYLE = `
:root { color: #1a1a1a; background: #fff; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 32px 0 8px; border-bottom: 2px solid #1f4e79; padding-bottom: 4px; }
h3 { font-size: 1.05rem; margin: 20px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 0.85em; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #bbb; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #eef2f6; }
td.num { text-align: right; }
.ci { color: #444; font-size: 0.85em; }
code, .hash { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85em; word-break: break-all; }
.note { background: #fff8e1; border-left: 4px solid #b26a00; padding: 6px 10px; margin: 8px 0; }
figure { margin: 8px 0 16px; }
figure svg { max-width: 760px; height: auto; }
figcaption { font-size: 0.85em; color: #444; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; }
svg text { font: 12px system-ui, sans-serif; fill: #1a1a1a; }
svg .tick, svg .axis { fill: #444; }
svg .grid { stroke: #ddd; stroke-width: 1; }
svg .whisker { stroke-width: 2.5; }
svg .whisker.model { stroke: #1f4e79; } svg .whisker.baseline { stroke: #8a4b00; }
svg .dot.model { fill: #1f4e79; } svg .dot.baseline { fill: #8a4b00; }
svg .diagonal { stroke: #777; stroke-dasharray: 4 3; }
svg .curve { fill: none; stroke: #1f4e79; stroke-width: 1.5; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; }
dt { font-weight: 600; }
dd { margin: 0; }
@media print {
  :root { font-size: 10pt; }
  body { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  section.model { break-before: page; }
  table, figure, .note { break-inside: avoid; }
  th { background: #eee !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
@page { size: A4 landscape; margin: 12mm; }
`

const fmt = (value: number | null | undefined, digits = 4): string => (value === null || value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits))
const pct = (share: number | null): string => (share === null ? '–' : `${(100 * share).toFixed(1)}%`)

function cell(interval: Interval | undefined, digits = 4): string {
  if (!interval) return '<td class="num">–</td>'
  const ci = interval.low !== null && interval.high !== null ? `<br><span class="ci">[${fmt(interval.low, digits)}, ${fmt(interval.high, digits)}]</span>` : ''
  return `<td class="num">${fmt(interval.value, digits)}${ci}</td>`
}

function metricsTable(caption: string, rows: Array<{ label: string; summary: MetricSummary }>, ddiNames: readonly string[]): string {
  const head = ['Predictor', 'Visits', 'Patients', 'Jaccard', 'F1', 'PRAUC', 'Recall', '#drugs', ...ddiNames.map((d) => `DDI rate ${d}`), 'ECE']
  const body = rows
    .map(
      ({ label, summary }) =>
        `<tr><th scope="row">${h(label)}</th><td class="num">${summary.visits}</td><td class="num">${summary.patients}</td>${cell(summary.metrics.jaccard)}${cell(summary.metrics.f1)}${cell(summary.metrics.prauc)}${cell(summary.metrics.recall)}${cell(summary.metrics.drugs, 2)}${ddiNames.map((d) => cell(summary.metrics[`ddi:${d}`])).join('')}${cell(summary.metrics.ece)}</tr>`
    )
    .join('')
  return `<table><caption>${h(caption)}</caption><thead><tr>${head.map((c) => `<th scope="col">${h(c)}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table>`
}

const DRUG_DDI_KEY = `ddi:${DRUG_DDI_NAME}`

/** Drug-level figures: the set scores, drugs per visit and the Major+ DDI share (PRAUC and ECE do not apply). */
function drugTable(caption: string, rows: Array<{ label: string; summary: DrugLevelSummary }>, withDdi: boolean): string {
  const head = ['Predictor', 'Visits', 'Patients', 'Jaccard', 'F1', 'Precision', 'Recall', '#drugs', ...(withDdi ? ['DDI share (Major+ drug pairs)'] : [])]
  const body = rows
    .map(({ label, summary }) => {
      const m = summary.metrics
      return `<tr><th scope="row">${h(label)}</th><td class="num">${summary.visits}</td><td class="num">${summary.patients}</td>${cell(m.jaccard)}${cell(m.f1)}${cell(m.precision)}${cell(m.recall)}${cell(m.drugs, 2)}${withDdi ? cell(m[DRUG_DDI_KEY]) : ''}</tr>`
    })
    .join('')
  return `<table><caption>${h(caption)}</caption><thead><tr>${head.map((c) => `<th scope="col">${h(c)}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table>`
}

function drugBasis(basis: DrugLevelBasis): string {
  const choice = 'unavailable' in basis.drugChoice ? `unavailable: ${h(basis.drugChoice.unavailable)}` : `version ${h(basis.drugChoice.version)}, sha256 <span class="hash">${h(basis.drugChoice.sha256)}</span>`
  const ddi =
    'unavailable' in basis.ddi
      ? h(basis.ddi.unavailable)
      : `drug pairs rated ${h(basis.ddi.severities.join(' or '))} by the app’s interaction checker over all drug pairs of a visit’s list, pooled over visits. Sources checked: ${h(basis.ddi.checked)}. Pairs at that severity came from: ${h(basis.ddi.foundIn.join('; ') || 'none')}.`
  return `<dl><dt>Drug</dt><dd>${h(basis.drugIdentity)}</dd><dt>Recommended drugs</dt><dd>${h(basis.rule)}</dd><dt>Within-class choice</dt><dd>${choice}</dd><dt>DDI share</dt><dd>${ddi}</dd><dt>PRAUC</dt><dd>${h(basis.notApplicable.prauc)}</dd><dt>ECE</dt><dd>${h(basis.notApplicable.ece)}</dd></dl>`
}

function modelSection(evaluation: ModelEvaluation, ddiNames: readonly string[], drugDdi: boolean): string {
  const { model, visits, unknown } = evaluation
  const parts: string[] = []
  parts.push(`<section class="model" aria-labelledby="model-${h(model.id)}"><h2 id="model-${h(model.id)}">Model ${h(model.id)}</h2>`)
  parts.push(
    `<dl><dt>Model</dt><dd>${h(model.id)} ${h(model.version)} (${h(model.family)})</dd><dt>ONNX sha256</dt><dd class="hash">${h(model.sha256)}</dd><dt>Decision threshold</dt><dd>${model.threshold}</dd><dt>Probabilities</dt><dd>${model.probabilities?.calibrated ? `calibrated (${h(model.probabilities.method ?? '')}, fitted on ${h(model.probabilities.fittedOn ?? '')})` : 'raw model outputs (no calibration)'}</dd><dt>Ran on</dt><dd>${h(model.provider)}, ${(evaluation.durationMs / 1000).toFixed(1)} s</dd><dt>DDI pairs between its classes</dt><dd>${Object.entries(evaluation.ddiPairsInVocabulary).map(([name, pairs]) => `${h(name)} ${pairs}`).join(', ') || '–'}</dd><dt>Visits scored</dt><dd>${visits.evaluated} visits of ${visits.patients} patients${visits.beforeSince + visits.undatedLeftOut > 0 ? ` (${visits.beforeSince} before the start date and ${visits.undatedLeftOut} undated visits not scored)` : ''}</dd></dl>`
  )
  const rows = [{ label: `${model.id} (model)`, summary: evaluation.summary }, ...evaluation.baselines.map((b) => ({ label: b.label, summary: b.summary }))]
  parts.push(metricsTable(`${model.id} and baselines on the same visits (95% intervals)`, rows, ddiNames))
  parts.push(`<ul>${evaluation.baselines.map((b) => `<li><strong>${h(b.label)}</strong>: ${h(b.rule)}.</li>`).join('')}</ul>`)
  const subset = evaluation.withEarlierMedication
  parts.push(
    metricsTable(
      `Visits whose patient has an earlier visit with a medication (${subset.model.visits} visits)`,
      [{ label: `${model.id} (model)`, summary: subset.model }, ...evaluation.baselines.map((b) => ({ label: b.label, summary: subset.baselines[b.id] }))],
      ddiNames
    )
  )
  const chartRows: IntervalRow[] = [
    { label: model.id, interval: evaluation.summary.metrics.jaccard!, kind: 'model' },
    ...evaluation.baselines.map((b) => ({ label: b.label, interval: b.summary.metrics.jaccard!, kind: 'baseline' as const }))
  ]
  parts.push('<div class="figures">')
  parts.push(intervalChart(`Jaccard of ${model.id} and the baselines`, `Jaccard with 95% bootstrap intervals: ${chartRows.map((r) => `${r.label} ${fmt(r.interval.value)}`).join(', ')}.`, chartRows))
  parts.push(reliabilityChart(`Reliability of ${model.id} (ECE ${fmt(evaluation.summary.metrics.ece?.value)})`, evaluation.summary.reliability))
  parts.push('</div>')

  const drug = evaluation.drugLevel
  parts.push('<h3>At drug level (ATC5)</h3>')
  parts.push(
    drugTable(
      `${model.id} at drug level on its ${drug.visits.evaluated} scored visits with a prescription resolved to a drug (${drug.visits.withoutDrug} without one left out; 95% intervals)`,
      [{ label: `${model.id} (model)`, summary: drug.summary }, ...drug.baselines.map((b) => ({ label: b.label, summary: b.summary })), { label: 'Recorded prescriptions', summary: drug.recorded }],
      drugDdi
    )
  )
  parts.push(
    `<p>Drugs of the ${drug.choices.classes} recommended classes: ${drug.choices.fromHistory} from an earlier visit, ${drug.choices.fromModel} by the within-class choice, ${drug.choices.withoutDrug} without a drug (a class the within-class choice never saw with a drug, and no earlier visit had). ${drug.baselines.map((b) => `<strong>${h(b.label)}</strong>: ${h(b.rule)}.`).join(' ')}</p>`
  )

  parts.push(`<h3>The ${evaluation.perClass.length} most often prescribed classes</h3>`)
  parts.push(
    `<table><caption>Per-class precision and recall of ${h(model.id)} (pooled over visits)</caption><thead><tr><th scope="col">ATC3</th><th scope="col">Class</th><th scope="col">Visits prescribed</th><th scope="col">Visits recommended</th><th scope="col">Both</th><th scope="col">Precision</th><th scope="col">Recall</th></tr></thead><tbody>${evaluation.perClass
      .map(
        (c) =>
          `<tr><th scope="row">${h(c.atc3)}</th><td>${h(c.name ?? '')}</td><td class="num">${c.support}</td><td class="num">${c.predicted}</td><td class="num">${c.truePositives}</td><td class="num">${fmt(c.precision, 3)}</td><td class="num">${fmt(c.recall, 3)}</td></tr>`
      )
      .join('')}</tbody></table>`
  )

  parts.push('<h3>Subgroups</h3>')
  parts.push(metricsTable(`${model.id} by sex`, evaluation.subgroups.sex.map((g) => ({ label: g.group, summary: g.summary })), ddiNames))
  parts.push(metricsTable(`${model.id} by data source`, evaluation.subgroups.source.map((g) => ({ label: g.group, summary: g.summary })), ddiNames))
  parts.push(metricsTable(`${model.id} by age at the visit (a patient’s visits can fall in several bands; 80+ includes the sources’ top code 90+)`, evaluation.subgroups.ageBand.map((g) => ({ label: g.group, summary: g.summary })), ddiNames))
  parts.push(
    `<p>Scored visits with a known age: ${evaluation.subgroups.ageKnown.map((c) => `${h(c.source)} ${c.withAge} of ${c.visits} (${pct(c.share)})`).join(', ')}.</p>`
  )

  parts.push('<h3>Codes and drugs the model does not know</h3>')
  const share = (label: string, s: { unknown: number; total: number; share: number | null }) =>
    `<tr><th scope="row">${h(label)}</th><td class="num">${s.unknown}</td><td class="num">${s.total}</td><td class="num">${pct(s.share)}</td></tr>`
  const rowsMed = unknown.medicationRows
  parts.push(
    `<table><caption>Unknown to ${h(model.id)} (fed as "unknown" or not usable)</caption><thead><tr><th scope="col">What</th><th scope="col">Unknown</th><th scope="col">Total</th><th scope="col">Share</th></tr></thead><tbody>${share('Diagnosis codes in the scored visits’ inputs', unknown.diagnosisCodes)}${share('Procedure codes in the scored visits’ inputs', unknown.procedureCodes)}${share('Medication classes in the scored visits’ history', unknown.historyMedicationClasses)}${share(`Medication rows of the database (${rowsMed.withoutAtc3} without an ATC3 class, ${rowsMed.outsideVocabulary} in a class outside the vocabulary)`, { unknown: rowsMed.withoutAtc3 + rowsMed.outsideVocabulary, total: rowsMed.total, share: rowsMed.share })}</tbody></table>`
  )
  parts.push(
    metricsTable(
      `${model.id} by tertile of the visit’s share of unknown diagnosis and procedure codes (tertile cuts by value; tied visits stay together, so tertiles can merge${unknown.visitsWithoutCodes > 0 ? `; ${unknown.visitsWithoutCodes} visits without any code left out` : ''})`,
      unknown.tertiles.map((t) => ({ label: `Tertile ${t.tertile}: ${pct(t.shareRange[0])}–${pct(t.shareRange[1])} unknown (mean ${pct(t.meanShare)})`, summary: t.summary })),
      ddiNames
    )
  )
  parts.push('</section>')
  return parts.join('\n')
}

function drugSummary(report: EvaluationReport): string {
  const first = report.models[0]
  if (!first) return ''
  const drugDdi = !('unavailable' in report.drugLevel.ddi)
  const rows = [
    ...report.models.map((m) => ({ label: m.model.id, summary: m.drugLevel.summary })),
    ...first.drugLevel.baselines.map((b) => ({ label: b.label, summary: b.summary })),
    { label: 'Recorded prescriptions', summary: first.drugLevel.recorded }
  ]
  const chartRows: IntervalRow[] = [
    ...report.models.map((m) => ({ label: m.model.id, interval: m.drugLevel.summary.metrics.jaccard!, kind: 'model' as const })),
    ...first.drugLevel.baselines.map((b) => ({ label: b.label, interval: b.summary.metrics.jaccard!, kind: 'baseline' as const }))
  ]
  return `<h2>At drug level (ATC5)</h2>
${drugBasis(report.drugLevel)}
${drugTable('Every model at drug level (baselines and recorded prescriptions on the first model’s visits)', rows, drugDdi)}
${intervalChart('Drug-level Jaccard of every model and the baseline', `Drug-level Jaccard with 95% intervals: ${chartRows.map((r) => `${r.label} ${fmt(r.interval.value)}`).join(', ')}.`, chartRows)}`
}

export function renderReportHtml(report: EvaluationReport): string {
  const ddiNames = report.ddiMatrices.map((m) => m.name)
  const fp = report.database.fingerprint
  const overview: IntervalRow[] = report.models.flatMap((m) => [{ label: m.model.id, interval: m.summary.metrics.jaccard!, kind: 'model' as const }])
  const first = report.models[0]
  if (first) for (const b of first.baselines) overview.push({ label: b.label, interval: b.summary.metrics.jaccard!, kind: 'baseline' })
  const body = `
<header>
<h1>MedRec model evaluation on this database</h1>
<p>Created ${h(report.createdAt)} by <code>medrec evaluate</code> in ${(report.durationMs / 1000).toFixed(1)} s.</p>
<dl>
<dt>Database</dt><dd><code>${h(report.database.path)}</code></dd>
<dt>Fingerprint</dt><dd class="hash">${h(fp.sha256)}</dd>
<dt>Rows</dt><dd>${Object.entries(fp.rows).map(([t, n]) => `${h(t)} ${n}`).join(', ')}</dd>
<dt>Visits scored</dt><dd>${report.options.since ? `visits that began on or after ${h(report.options.since)}` : 'all visits with a medication class the model knows'}</dd>
<dt>Intervals</dt><dd>95% patient-level bootstrap, ${report.options.bootstrap.replicates} replicates, seed ${report.options.bootstrap.seed}</dd>
</dl>
</header>
<main>
<h2>Summary</h2>
${report.notes.map((note) => `<p class="note">${h(note)}</p>`).join('\n')}
<p class="note">If a model was trained on patients of this database (the shipped models were trained on the demo database), its figures here are in-sample and optimistic; compare models on patients none of them saw.</p>
${intervalChart('Jaccard of every model and the baselines', `Jaccard with 95% intervals: ${overview.map((r) => `${r.label} ${fmt(r.interval.value)}`).join(', ')}.`, overview)}
${metricsTable('Every model (baselines computed on the first model’s visits)', [...report.models.map((m) => ({ label: m.model.id, summary: m.summary })), ...(first ? first.baselines.map((b) => ({ label: b.label, summary: b.summary })) : [])], ddiNames)}
<h3>DDI matrices</h3>
<ul>${report.ddiMatrices.map((m) => `<li><strong>${h(m.name)}</strong> (${m.pairs} class pairs in the knowledge base, source <code>${h(m.sourceKey)}</code>): ${h(m.description)}</li>`).join('')}</ul>
<p>DDI rate: interacting pairs among each visit’s recommended classes over all such pairs, pooled over visits. ECE: 10 equal-width bins over every (visit, class) probability. Jaccard, F1, PRAUC and recall: averaged over each patient’s visits, then over patients (training/medrec_training/metrics.py).</p>
${drugSummary(report)}
${report.models.map((m) => modelSection(m, ddiNames, !('unavailable' in report.drugLevel.ddi))).join('\n')}
</main>
<footer><p>Database fingerprint method: ${h(fp.method)}.</p></footer>`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>MedRec evaluation ${h(report.createdAt.slice(0, 10))}</title>
<style>${STYLE}</style>
</head>
<body>${body}</body>
</html>
`
}
