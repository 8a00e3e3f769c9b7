// Scoring resolver output against the labelled set (tests/fixtures/drug-labels/labelled-drugs.csv).
// A label is 'non-drug', 'no-atc' (a drug with no ATC level-5 code in the WHO index) or a list of
// ingredient slots separated by ';', each slot the ATC5 codes accepted for that ingredient separated by
// '|' (aspirin: B01AC06|N02BA01). A resolved row is correct when every predicted code is accepted by some
// slot and every slot is covered by a predicted code (all ingredients of a combination found, no extra one).
import { readCsvObjects } from '../imports/csv'

export interface LabelledRow {
  line: number
  source: string
  raw: string
  route: string
  rxnorm: string
  expected: 'non-drug' | 'no-atc' | string[][]
  uncertain: boolean
  note: string
  /**
   * 'dev': labelled first, then used to develop the resolver; 'holdout' and 'holdout2': random strings
   * labelled blind, each scored once before any fix they might suggest; 'dev2' and 'holdout3': the rest of
   * the datasets' strings, labelled blind, split at random: fixes were drawn from 'dev2' only, and
   * 'holdout3' stays held out (see the README beside the set).
   */
  split: Split
}

export const SPLITS = ['dev', 'holdout', 'holdout2', 'dev2', 'holdout3'] as const
export type Split = (typeof SPLITS)[number]

export function readLabelledSet(path: string): LabelledRow[] {
  const { rows } = readCsvObjects(path, ['source', 'raw', 'route', 'rxnorm', 'expected', 'uncertain', 'note', 'split'])
  return rows.map(({ line, values }) => {
    const label = values.expected!.trim()
    let expected: LabelledRow['expected']
    if (label === 'non-drug' || label === 'no-atc') expected = label
    else {
      expected = label.split(';').map((slot) => slot.split('|').map((c) => c.trim()))
      for (const code of expected.flat()) {
        if (!/^[A-Z]\d\d[A-Z]{2}\d\d$/.test(code)) throw new Error(`${path}:${line}: "${code}" is not an ATC level-5 code.`)
      }
    }
    const split = (values.split || 'dev') as Split
    if (!SPLITS.includes(split)) throw new Error(`${path}:${line}: split "${values.split}" is not one of ${SPLITS.join(', ')}.`)
    return { line, source: values.source!, raw: values.raw!, route: values.route!, rxnorm: values.rxnorm!, expected, uncertain: values.uncertain === '1', note: values.note!, split }
  })
}

/** What a mapper said about one row: resolved codes, non-drug, or nothing (unresolved/ambiguous/class only). */
export type Prediction = { kind: 'resolved'; codes: string[]; path: string } | { kind: 'non-drug'; path: string } | { kind: 'none'; path: string }

export function isCorrect(expected: LabelledRow['expected'], codes: readonly string[]): boolean {
  if (!Array.isArray(expected) || codes.length === 0) return false
  const accepted = new Set(expected.flat())
  if (!codes.every((c) => accepted.has(c))) return false
  return expected.every((slot) => slot.some((c) => codes.includes(c)))
}

export interface Scores {
  rows: number
  drugRows: number
  resolved: number
  resolvedCorrect: number
  precision: number
  recall: number
  nonDrugLabelled: number
  nonDrugPredicted: number
  nonDrugCorrect: number
  nonDrugPrecision: number
  nonDrugRecall: number
  combinationRows: number
  combinationCorrect: number
  combinationRecall: number
  byPath: Record<string, number>
  wrong: { row: LabelledRow; prediction: Prediction }[]
}

export function score(rows: readonly LabelledRow[], predictions: readonly Prediction[]): Scores {
  const s: Scores = {
    rows: rows.length,
    drugRows: 0,
    resolved: 0,
    resolvedCorrect: 0,
    precision: 0,
    recall: 0,
    nonDrugLabelled: 0,
    nonDrugPredicted: 0,
    nonDrugCorrect: 0,
    nonDrugPrecision: 0,
    nonDrugRecall: 0,
    combinationRows: 0,
    combinationCorrect: 0,
    combinationRecall: 0,
    byPath: {},
    wrong: []
  }
  rows.forEach((row, i) => {
    const p = predictions[i]!
    s.byPath[p.path] = (s.byPath[p.path] ?? 0) + 1
    const isDrug = Array.isArray(row.expected)
    if (isDrug) s.drugRows++
    if (row.expected === 'non-drug') s.nonDrugLabelled++
    const combination = isDrug && (row.expected as string[][]).length > 1
    if (combination) s.combinationRows++
    if (p.kind === 'resolved') {
      s.resolved++
      if (isCorrect(row.expected, p.codes)) {
        s.resolvedCorrect++
        if (combination) s.combinationCorrect++
      } else s.wrong.push({ row, prediction: p })
    } else if (p.kind === 'non-drug') {
      s.nonDrugPredicted++
      if (row.expected === 'non-drug') s.nonDrugCorrect++
      else s.wrong.push({ row, prediction: p })
    }
  })
  const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b)
  s.precision = ratio(s.resolvedCorrect, s.resolved)
  s.recall = ratio(s.resolvedCorrect, s.drugRows)
  s.nonDrugPrecision = ratio(s.nonDrugCorrect, s.nonDrugPredicted)
  s.nonDrugRecall = ratio(s.nonDrugCorrect, s.nonDrugLabelled)
  s.combinationRecall = ratio(s.combinationCorrect, s.combinationRows)
  return s
}
