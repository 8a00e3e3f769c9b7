import type { RecommendationDdiPair } from '../../src/shared/domain/interaction'
import { defaultDrugChoiceDirectory } from '../../src/main/services/paths'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ddiCheckerFromPairs } from '../../src/main/services/interactions/checker'
import { type ClassChoice, chooseDrugs, type PatientDrugs } from '../../src/main/services/recommend/drug-choice'
import { DrugChoiceError, DrugChoiceModel } from '../../src/main/services/recommend/drug-choice-model'
import { decodeDrugs } from '../../src/main/services/recommend/drug-decode'
import { drugWarnings } from '../../src/main/services/interactions/drug-warnings'

const pair = (a: string, b: string, severity: RecommendationDdiPair['severity'], source = 'test'): RecommendationDdiPair => ({ a, b, severity, source })

const NAMES: Record<string, string> = {
  A02BC01: 'omeprazole',
  A02BC02: 'pantoprazole',
  A02BC05: 'esomeprazole',
  B01AC04: 'clopidogrel',
  B01AC06: 'acetylsalicylic acid',
  N02BA01: 'acetylsalicylic acid',
  B01AA03: 'warfarin',
  C01BD01: 'amiodarone',
  M01AE01: 'ibuprofen',
  M01AB05: 'diclofenac',
  J01CA04: 'amoxicillin',
  J01DD04: 'ceftriaxone'
}
const nameOf = (code: string): string | null => NAMES[code] ?? null

/** A class whose drug is new, chosen by the within-class model, with the given members in rank order. */
function modelClass(atc3: string, probability: number, members: string[]): ClassChoice {
  const ranked = members.map((atc5, i) => ({ atc5, name: nameOf(atc5), probability: (members.length - i) / 10 }))
  return {
    atc3,
    name: null,
    probability,
    drugs: [{ atc5: members[0]!, name: nameOf(members[0]!), source: 'model', probability: ranked[0]!.probability }],
    alternatives: ranked.slice(1),
    noDrugReason: null,
    review: null,
    ranked
  }
}

function currentClass(atc3: string, probability: number, drugs: string[], members: string[] = []): ClassChoice {
  return {
    ...modelClass(atc3, probability, members.length > 0 ? members : drugs),
    drugs: drugs.map((atc5) => ({ atc5, name: nameOf(atc5), source: 'current' as const, probability: null }))
  }
}


describe('within-class drug choice', () => {
  const model = DrugChoiceModel.load(defaultDrugChoiceDirectory())

  it('reproduces the probabilities the Python estimator computed (drug-choice-parity.json)', () => {
    const parity = JSON.parse(readFileSync(join(defaultDrugChoiceDirectory(), 'drug-choice-parity.json'), 'utf8')) as {
      examples: Array<{ atc3: string; codes: string[]; probabilities: Record<string, number> }>
    }
    expect(parity.examples.length).toBeGreaterThan(5)
    for (const example of parity.examples) {
      const ranked = model.rank(example.atc3, example.codes)
      expect(Object.fromEntries(ranked.map((m) => [m.atc5, m.probability]))).toEqual(
        Object.fromEntries(Object.entries(example.probabilities).map(([k, v]) => [k, expect.closeTo(v, 12)]))
      )
      for (let i = 1; i < ranked.length; i++) expect(ranked[i]!.probability).toBeLessThanOrEqual(ranked[i - 1]!.probability)
    }
  })

  it('prefers the drug taken on the current visit, then the most recent earlier one, then the model', () => {
    const patient: PatientDrugs = {
      current: new Map([['B01A', [{ atc5: 'B01AA03', name: 'warfarin' }]]]),
      history: new Map([
        ['B01A', [{ atc5: 'B01AC06', name: 'acetylsalicylic acid' }]],
        ['A02B', [{ atc5: 'A02BC02', name: 'pantoprazole' }]]
      ]),
      currentWithoutDrug: new Set(['N02A'])
    }
    const classes = [
      { atc3: 'B01A', name: null, probability: 0.9 },
      { atc3: 'A02B', name: null, probability: 0.8 },
      { atc3: 'C10A', name: null, probability: 0.7 },
      { atc3: 'N02A', name: null, probability: 0.6 },
      { atc3: 'Z99Z', name: null, probability: 0.5 }
    ]
    const chosen = chooseDrugs({ classes, patient, model, codeKeys: [], nameOf })
    expect(chosen.map((c) => c.drugs.map((d) => [d.atc5, d.source]))).toEqual([
      [['B01AA03', 'current']],
      [['A02BC02', 'history']],
      [[model.rank('C10A', [])[0]!.atc5, 'model']],
      [],
      []
    ])
    expect(chosen[2]!.drugs[0]!.probability).toBe(model.rank('C10A', [])[0]!.probability)
    expect(chosen[2]!.alternatives.map((a) => a.atc5)).not.toContain(chosen[2]!.drugs[0]!.atc5)
    expect(chosen[3]!.noDrugReason).toMatch(/without an ATC level-5 code/)
    expect(chosen[4]!.noDrugReason).toMatch(/no member of this class was prescribed/)
  })

  it('refuses a changed or malformed artefact, naming the file', () => {
    const folder = mkdtempSync(join(tmpdir(), 'drug-choice-'))
    try {
      cpSync(defaultDrugChoiceDirectory(), folder, { recursive: true })
      const file = join(folder, 'drug-choice.json')
      writeFileSync(file, readFileSync(file, 'utf8').replace('"alpha":0.5', '"alpha":0.6'))
      expect(() => DrugChoiceModel.load(folder)).toThrow(DrugChoiceError)
      expect(() => DrugChoiceModel.load(folder)).toThrow(/drug-choice\.json: sha256 [0-9a-f]{64} differs/)
      writeFileSync(join(folder, 'manifest.json'), '{"artefact": "drug-choice"')
      expect(() => DrugChoiceModel.load(folder)).toThrow(/manifest\.json: not valid JSON/)
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  })
})

describe('DDI-safe decoding at drug level', () => {
  const safe = { blockSeverity: 'Major' as const, maxDdiRate: null }

  it('substitutes the next member of the class that avoids the conflict before dropping anything', () => {
    // A proton-pump inhibitor for a patient on clopidogrel: omeprazole is blocked, pantoprazole is not.
    const checker = ddiCheckerFromPairs('test', [pair('A02BC01', 'B01AC04', 'Major'), pair('A02BC05', 'B01AC04', 'Moderate')])
    const classes = [currentClass('B01A', 0.9, ['B01AC04']), modelClass('A02B', 0.6, ['A02BC01', 'A02BC02', 'A02BC05'])]
    const result = decodeDrugs(classes, ['B01AC04'], checker, safe)
    expect(result.dropped).toEqual([])
    expect(result.substituted).toMatchObject([{ atc3: 'A02B', from: 'A02BC01', to: 'A02BC02', conflictsWith: ['B01AC04'], severity: 'Major' }])
    expect(result.classes.map((c) => c.drugs.map((d) => d.atc5))).toEqual([['B01AC04'], ['A02BC02']])
    // Without DDI-safe nothing changes and the interaction is reported.
    const plain = decodeDrugs(classes, ['B01AC04'], checker, null)
    expect(plain.substituted).toEqual([])
    expect(plain.pairs).toEqual([pair('A02BC01', 'B01AC04', 'Major')])
  })

  it('does not take a member whose pair with the conflicting drug no source covers: silence is not safety', () => {
    // Pantoprazole's pairs with clopidogrel are not covered here; esomeprazole's are (a Moderate pair, not blocking).
    const covers = (a: string, b: string) => ![a, b].includes('A02BC02')
    const checker = ddiCheckerFromPairs('test', [pair('A02BC01', 'B01AC04', 'Major'), pair('A02BC05', 'B01AC04', 'Moderate')], covers)
    const classes = [currentClass('B01A', 0.9, ['B01AC04']), modelClass('A02B', 0.6, ['A02BC01', 'A02BC02', 'A02BC05'])]
    const result = decodeDrugs(classes, ['B01AC04'], checker, safe)
    expect(result.substituted).toMatchObject([{ atc3: 'A02B', from: 'A02BC01', to: 'A02BC05' }])
    // With no covered member left the class is dropped, and says why.
    const none = decodeDrugs(classes, ['B01AC04'], ddiCheckerFromPairs('test', [pair('A02BC01', 'B01AC04', 'Major')], () => false), safe)
    expect(none.substituted).toEqual([])
    expect(none.dropped).toMatchObject([{ atc3: 'A02B', triedMembers: ['A02BC02', 'A02BC05'] }])
    expect(none.dropped[0]!.explanation).toMatch(/in a source that covers the pair/)
  })

  it('drops a class only when every member conflicts, saying which members it tried', () => {
    const checker = ddiCheckerFromPairs('test', [pair('M01AE01', 'B01AA03', 'Major'), pair('M01AB05', 'B01AA03', 'Contraindicated')])
    const classes = [currentClass('B01A', 0.5, ['B01AA03']), modelClass('M01A', 0.95, ['M01AE01', 'M01AB05'])]
    const result = decodeDrugs(classes, ['B01AA03'], checker, safe)
    expect(result.substituted).toEqual([])
    expect(result.dropped).toMatchObject([{ atc3: 'M01A', drug: 'M01AE01', reason: 'severity', conflictsWith: ['B01AA03'], triedMembers: ['M01AB05'] }])
    // The anticoagulant the patient takes stays, although its class is less probable than the NSAIDs.
    expect(result.classes.map((c) => c.atc3)).toEqual(['B01A'])
  })

  it('never drops a drug the patient already takes: a blocking pair among current drugs is flagged for review', () => {
    const checker = ddiCheckerFromPairs('test', [pair('B01AA03', 'C01BD01', 'Major')])
    const classes = [currentClass('B01A', 0.9, ['B01AA03']), currentClass('C01B', 0.8, ['C01BD01'])]
    const result = decodeDrugs(classes, ['B01AA03', 'C01BD01'], checker, safe)
    expect(result.dropped).toEqual([])
    expect(result.substituted).toEqual([])
    expect(result.classes.map((c) => [c.atc3, c.review])).toEqual([
      ['B01A', { conflictsWith: ['C01BD01'], severity: 'Major' }],
      ['C01B', { conflictsWith: ['B01AA03'], severity: 'Major' }]
    ])
  })

  it('between two new drugs acts on the less probable class first', () => {
    const checker = ddiCheckerFromPairs('test', [pair('J01CA04', 'M01AE01', 'Major')])
    const result = decodeDrugs([modelClass('J01C', 0.9, ['J01CA04']), modelClass('M01A', 0.6, ['M01AE01', 'M01AB05'])], [], checker, safe)
    expect(result.substituted).toMatchObject([{ atc3: 'M01A', from: 'M01AE01', to: 'M01AB05' }])
  })
})

describe('drug-level warnings', () => {
  it('interrupts only for Major/contraindicated pairs involving a new drug; existing co-prescriptions, Moderate and Minor do not', () => {
    const classes = [currentClass('B01A', 0.9, ['B01AA03']), modelClass('M01A', 0.6, ['M01AE01']), modelClass('J01C', 0.5, ['J01CA04'])]
    const pairs = [
      pair('B01AA03', 'M01AE01', 'Major', 'DDInter'),
      pair('B01AA03', 'M01AE01', 'Contraindicated', 'curated'),
      pair('B01AA03', 'C01BD01', 'Major', 'DDInter'),
      pair('J01CA04', 'B01AA03', 'Moderate', 'DDInter'),
      pair('J01CA04', 'M01AE01', 'Minor', 'DDInter')
    ]
    const warnings = drugWarnings({ classes, currentDrugs: ['B01AA03', 'C01BD01'], pairs, allergies: [], checker: null, nameOf })
    const interactions = warnings.filter((w) => w.kind === 'interaction')
    expect(interactions.map((w) => [w.drugs, w.severity, w.interrupting, w.tier, w.scope])).toEqual([
      [['B01AA03', 'M01AE01'], 'Contraindicated', true, 'interrupt', 'new'],
      [['B01AA03', 'C01BD01'], 'Major', false, 'inline', 'existing'],
      [['B01AA03', 'J01CA04'], 'Moderate', false, 'inline', 'new'],
      [['J01CA04', 'M01AE01'], 'Minor', false, 'details', 'new']
    ])
    expect(interactions[0]!.sources).toEqual(['curated', 'DDInter'])
    expect(interactions[0]!.names).toEqual(['warfarin', 'ibuprofen'])
    expect(interactions[1]!.detail).toMatch(/existing co-prescription/)
  })

  it('flags therapeutic duplication: same ATC level-4 group, or the same ingredient under two codes', () => {
    const classes = [modelClass('N02B', 0.7, ['N02BA01']), currentClass('B01A', 0.9, ['B01AC06', 'B01AC04'])]
    const warnings = drugWarnings({ classes, currentDrugs: ['B01AC06', 'B01AC04'], pairs: [], allergies: [], checker: null, nameOf })
    expect(warnings.map((w) => [w.kind, w.drugs, w.scope, w.interrupting])).toEqual([
      ['duplication', ['B01AC06', 'N02BA01'], 'new', false],
      ['duplication', ['B01AC04', 'B01AC06'], 'existing', false]
    ])
    expect(warnings[0]!.detail).toMatch(/same ingredient/)
    expect(warnings[1]!.detail).toMatch(/same ATC level-4 group B01AC/)
  })

  it('checks drugs against allergies by ingredient and by class, showing the matched allergen', () => {
    const classes = [modelClass('J01C', 0.8, ['J01CA04']), modelClass('J01D', 0.6, ['J01DD04']), currentClass('M01A', 0.5, ['M01AE01'])]
    const allergies = [
      { substance: 'penicillins', atc: 'J01C' },
      { substance: 'Ibuprofen', atc: null }
    ]
    const warnings = drugWarnings({ classes, currentDrugs: ['M01AE01'], pairs: [], allergies, checker: null, nameOf })
    expect(warnings.map((w) => [w.kind, w.drugs, w.severity, w.interrupting])).toEqual([
      ['allergy', ['J01CA04'], 'Major', true],
      ['allergy', ['M01AE01'], 'Contraindicated', false]
    ])
    expect(warnings[0]!.detail).toBe('amoxicillin (J01CA04): allergy to penicillins (J01C), same class J01C')
    expect(warnings[1]!.detail).toMatch(/allergy to Ibuprofen, same ingredient/)
  })

  it('keeps class-level lifting only as a non-interrupting, labelled note for a class without a drug', () => {
    const withoutDrug: ClassChoice = { ...modelClass('N05A', 0.7, ['N05AC02']), drugs: [], noDrugReason: 'test' }
    const checker = ddiCheckerFromPairs('lifted', [pair('N05A', 'N06A', 'Contraindicated', 'DDInter (lifted)'), pair('N06A', 'B01A', 'Major')])
    const warnings = drugWarnings({
      classes: [withoutDrug, modelClass('N06A', 0.8, ['N06AB03'])],
      currentDrugs: [],
      pairs: [],
      allergies: [],
      checker,
      nameOf
    })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ kind: 'class-note', drugs: ['N05A', 'N06A'], severity: 'Contraindicated', interrupting: false, tier: 'details' })
    expect(warnings[0]!.detail).toMatch(/^class-level note \(no drug chosen for N05A\)/)
  })
})

