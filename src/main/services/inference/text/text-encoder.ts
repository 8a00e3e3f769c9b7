// The frozen sentence encoder NLA-MMR was trained with, as shipped beside the model: text_encoder.onnx
// (token ids -> pooled, normalised embedding), text_vocab.txt (WordPiece vocabulary) and
// text_encoder.json (tokenizer settings), written by training/medrec_training/text/onnx_export.py.
// The app needs it only for codes the model never saw (cold-start.ts): known codes' text embeddings are
// constants inside model.onnx.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import ort from 'onnxruntime-node'
import { z } from 'zod'
import { createSessionWithFallback, type ProviderName } from '../providers'
import { WordPieceTokenizer } from './wordpiece'

export const TEXT_ENCODER_CONFIG_FILE = 'text_encoder.json'

const textEncoderConfigSchema = z.object({
  encoder: z.string(),
  dimension: z.number().int().positive(),
  maxLength: z.number().int().min(2),
  lowercase: z.boolean(),
  stripAccents: z.boolean(),
  pooling: z.enum(['mean', 'cls']),
  normalize: z.boolean(),
  onnxFile: z.string().regex(/^[A-Za-z0-9._-]+$/),
  vocabFile: z.string().regex(/^[A-Za-z0-9._-]+$/),
  inputs: z.tuple([z.literal('input_ids'), z.literal('attention_mask')]),
  output: z.string(),
  specialTokens: z.object({ cls: z.string(), sep: z.string(), pad: z.string(), unknown: z.string() }),
  continuingSubwordPrefix: z.string(),
  maxInputCharsPerWord: z.number().int().positive()
})

export type TextEncoderConfig = z.infer<typeof textEncoderConfigSchema>

export class TextEncoderError extends Error {
  override name = 'TextEncoderError'
}

/** File name -> expected sha256 (a manifest's extraFiles); a file listed here must match. */
export type ExpectedHashes = ReadonlyMap<string, string>

function readChecked(folder: string, file: string, expected: ExpectedHashes | undefined): Buffer {
  const path = join(folder, file)
  if (!existsSync(path)) throw new TextEncoderError(`${path}: missing (the text encoder needs it)`)
  const bytes = readFileSync(path)
  const want = expected?.get(file)
  if (expected && want === undefined) throw new TextEncoderError(`${path}: not listed in the manifest's extraFiles, so its hash cannot be checked`)
  if (want !== undefined) {
    const actual = createHash('sha256').update(bytes).digest('hex')
    if (actual !== want) throw new TextEncoderError(`${path}: sha256 is ${actual} but the manifest says ${want} (the file was changed)`)
  }
  return bytes
}

export function parseTextEncoderConfig(text: string, source: string): TextEncoderConfig {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw new TextEncoderError(`${source}: not valid JSON (${error instanceof Error ? error.message : String(error)})`)
  }
  const parsed = textEncoderConfigSchema.safeParse(raw)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    throw new TextEncoderError(`${source}: ${problems.join('; ')}`)
  }
  return parsed.data
}

export interface TextEncoderOptions {
  providers?: readonly ProviderName[]
  /** Check every file against these hashes (the model manifest's extraFiles). */
  expectedHashes?: ExpectedHashes
  /** Texts per onnxruntime run (padding grows with the longest text of a run). */
  batchSize?: number
}

export class TextEncoder {
  private constructor(
    readonly config: TextEncoderConfig,
    readonly tokenizer: WordPieceTokenizer,
    private readonly session: ort.InferenceSession,
    private readonly batchSize: number
  ) {}

  /** Loads text_encoder.json, the vocabulary and the ONNX graph from `folder` (hash-checked when asked). */
  static async load(folder: string, options: TextEncoderOptions = {}): Promise<TextEncoder> {
    const configPath = join(folder, TEXT_ENCODER_CONFIG_FILE)
    const config = parseTextEncoderConfig(readChecked(folder, TEXT_ENCODER_CONFIG_FILE, options.expectedHashes).toString('utf8'), configPath)
    const tokenizer = WordPieceTokenizer.fromVocabText(
      readChecked(folder, config.vocabFile, options.expectedHashes).toString('utf8'),
      {
        lowercase: config.lowercase,
        stripAccents: config.stripAccents,
        maxLength: config.maxLength,
        specialTokens: config.specialTokens,
        continuingSubwordPrefix: config.continuingSubwordPrefix,
        maxInputCharsPerWord: config.maxInputCharsPerWord
      },
      join(folder, config.vocabFile)
    )
    const onnxBytes = readChecked(folder, config.onnxFile, options.expectedHashes)
    const { session } = await createSessionWithFallback(onnxBytes, options.providers ?? ['cpu'])
    const missing = config.inputs.filter((name) => !session.inputNames.includes(name))
    if (missing.length > 0 || !session.outputNames.includes(config.output)) {
      await session.release()
      throw new TextEncoderError(
        `${join(folder, config.onnxFile)}: expected inputs ${config.inputs.join(', ')} and output ${config.output}; ` +
          `the graph has inputs ${session.inputNames.join(', ')} and outputs ${session.outputNames.join(', ')}`
      )
    }
    return new TextEncoder(config, tokenizer, session, options.batchSize ?? 32)
  }

  get dimension(): number {
    return this.config.dimension
  }

  /** Embeddings of `texts`, row-major [texts.length × dimension]. */
  async embed(texts: readonly string[]): Promise<Float32Array> {
    const out = new Float32Array(texts.length * this.dimension)
    for (let start = 0; start < texts.length; start += this.batchSize) {
      const chunk = texts.slice(start, start + this.batchSize)
      const batch = this.tokenizer.encodeBatch(chunk)
      const shape = [batch.batch, batch.length]
      const [idsName, maskName] = this.config.inputs
      const result = await this.session.run(
        { [idsName]: new ort.Tensor('int64', batch.inputIds, shape), [maskName]: new ort.Tensor('int64', batch.attentionMask, shape) },
        [this.config.output]
      )
      const embeddings = result[this.config.output]
      if (!embeddings || !(embeddings.data instanceof Float32Array) || embeddings.data.length !== chunk.length * this.dimension) {
        throw new TextEncoderError(`the text encoder returned no float32 [${chunk.length}, ${this.dimension}] "${this.config.output}" output`)
      }
      out.set(embeddings.data, start * this.dimension)
    }
    return out
  }

  async release(): Promise<void> {
    await this.session.release()
  }
}
