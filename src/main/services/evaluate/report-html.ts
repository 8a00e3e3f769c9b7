import type { EvaluationReport } from './evaluate'

export function renderReportHtml(report: EvaluationReport): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MedRec evaluation</title></head><body><pre>${JSON.stringify(report, null, 2).replace(/&/g, '&amp;').replace(/</g, '&lt;')}</pre></body></html>`
}
