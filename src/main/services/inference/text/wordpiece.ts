// BERT WordPiece tokenizer (uncased BERT vocabularies such as all-MiniLM-L6-v2's), written to give the
// same ids as the Python tokenizer the model's text tables were computed with (Hugging Face tokenizers:
// BertNormalizer -> BertPreTokenizer -> WordPiece -> [CLS] ... [SEP]). Checked against Python on real
// code titles in tests/unit/text-encoder.test.ts.
//
//   normalise: drop NUL, U+FFFD and control/format characters (tab, CR, LF become spaces); every
//              whitespace character becomes a space; CJK ideographs get spaces around them; then, for
//              an uncased vocabulary, NFD + drop non-spacing marks (accents) and lower-case each character
//   split:     on whitespace (dropped) and punctuation (each mark its own word)
//   WordPiece: greedy longest match from the left, continuations prefixed "##"; a word with no match,
//              or longer than maxInputCharsPerWord characters, is one [UNK]
//   encode:    [CLS] + pieces (truncated to maxLength - 2) + [SEP]
import { readFileSync } from 'node:fs'

export interface WordPieceSettings {
  lowercase: boolean
  /** Defaults to `lowercase` in BERT: uncased vocabularies also drop accents. */
  stripAccents: boolean
  /** Ids per text including [CLS] and [SEP]. */
  maxLength: number
  specialTokens: { cls: string; sep: string; pad: string; unknown: string }
  continuingSubwordPrefix: string
  maxInputCharsPerWord: number
}

export const UNCASED_BERT: WordPieceSettings = {
  lowercase: true,
  stripAccents: true,
  maxLength: 512,
  specialTokens: { cls: '[CLS]', sep: '[SEP]', pad: '[PAD]', unknown: '[UNK]' },
  continuingSubwordPrefix: '##',
  maxInputCharsPerWord: 100
}

export class VocabularyError extends Error {
  override name = 'VocabularyError'
}

/** A batch of encoded texts padded to the longest: row-major [batch, length] int64 tensors' data. */
export interface EncodedBatch {
  inputIds: BigInt64Array
  attentionMask: BigInt64Array
  batch: number
  length: number
}

const CONTROL = /\p{C}/u
const WHITESPACE = /\p{White_Space}/u
const PUNCTUATION = /\p{P}/u
const NON_SPACING_MARKS = /\p{Mn}/gu

function isAsciiPunctuation(codePoint: number): boolean {
  return (codePoint >= 33 && codePoint <= 47) || (codePoint >= 58 && codePoint <= 64) || (codePoint >= 91 && codePoint <= 96) || (codePoint >= 123 && codePoint <= 126)
}

/** The CJK Unified Ideograph blocks BERT isolates (not all of CJK: Hangul and kana stay in words). */
function isCjkIdeograph(codePoint: number): boolean {
  return (
    (codePoint >= 0x4e00 && codePoint <= 0x9fff) ||
    (codePoint >= 0x3400 && codePoint <= 0x4dbf) ||
    (codePoint >= 0x20000 && codePoint <= 0x2a6df) ||
    (codePoint >= 0x2a700 && codePoint <= 0x2b73f) ||
    (codePoint >= 0x2b740 && codePoint <= 0x2b81f) ||
    (codePoint >= 0x2b920 && codePoint <= 0x2ceaf) ||
    (codePoint >= 0xf900 && codePoint <= 0xfaff) ||
    (codePoint >= 0x2f800 && codePoint <= 0x2fa1f)
  )
}

export class WordPieceTokenizer {
  private constructor(
    private readonly ids: ReadonlyMap<string, number>,
    readonly settings: WordPieceSettings,
    private readonly special: { cls: number; sep: number; pad: number; unknown: number }
  ) {}

  /**
   * A tokenizer from a vocab.txt's text: one token per line, line n (from 0) is id n. `source` names the
   * file in errors.
   */
  static fromVocabText(text: string, settings: Partial<WordPieceSettings> = {}, source = 'the vocabulary'): WordPieceTokenizer {
    const merged: WordPieceSettings = { ...UNCASED_BERT, ...settings, specialTokens: { ...UNCASED_BERT.specialTokens, ...settings.specialTokens } }
    if (!Number.isInteger(merged.maxLength) || merged.maxLength < 2) {
      throw new VocabularyError(`maxLength must be an integer of at least 2 (room for [CLS] and [SEP]), got ${merged.maxLength}`)
    }
    const lines = text.split('\n')
    if (lines.at(-1) === '') lines.pop() // the newline that ends the last line
    const ids = new Map<string, number>()
    lines.forEach((line, id) => {
      // Like the Python readers: trailing whitespace (a CRLF file's \r) is not part of the token; a
      // repeated token keeps its last id.
      const token = line.trimEnd()
      if (token === '') throw new VocabularyError(`${source}:${id + 1}: empty line (every line must hold one token)`)
      ids.set(token, id)
    })
    const idOf = (role: keyof WordPieceSettings['specialTokens']): number => {
      const token = merged.specialTokens[role]
      const id = ids.get(token)
      if (id === undefined) throw new VocabularyError(`${source}: the ${role} token "${token}" is not in the vocabulary`)
      return id
    }
    return new WordPieceTokenizer(ids, merged, { cls: idOf('cls'), sep: idOf('sep'), pad: idOf('pad'), unknown: idOf('unknown') })
  }

  static fromVocabFile(path: string, settings: Partial<WordPieceSettings> = {}): WordPieceTokenizer {
    return WordPieceTokenizer.fromVocabText(readFileSync(path, 'utf8'), settings, path)
  }

  get size(): number {
    return this.ids.size
  }

  get padId(): number {
    return this.special.pad
  }

  /** BertNormalizer: clean, isolate CJK ideographs, strip accents, lower-case. */
  normalize(text: string): string {
    let cleaned = ''
    for (const char of text) {
      const codePoint = char.codePointAt(0)!
      const tabOrNewline = char === '\t' || char === '\n' || char === '\r'
      // Control and format characters go first, even those Unicode also calls whitespace (U+0085, \v, \f).
      if (codePoint === 0 || codePoint === 0xfffd || (!tabOrNewline && CONTROL.test(char))) continue
      if (tabOrNewline || WHITESPACE.test(char)) cleaned += ' '
      else cleaned += isCjkIdeograph(codePoint) ? ` ${char} ` : char
    }
    if (this.settings.stripAccents) cleaned = cleaned.normalize('NFD').replace(NON_SPACING_MARKS, '')
    if (this.settings.lowercase) {
      // Character by character, as the Rust tokenizer does (no context rules such as a word-final sigma).
      let lowered = ''
      for (const char of cleaned) lowered += char.toLowerCase()
      cleaned = lowered
    }
    return cleaned
  }

  /** BertPreTokenizer on normalised text: words split at whitespace, each punctuation mark on its own. */
  preTokenize(normalized: string): string[] {
    const words: string[] = []
    let word = ''
    const flush = (): void => {
      if (word) words.push(word)
      word = ''
    }
    for (const char of normalized) {
      if (WHITESPACE.test(char)) {
        flush()
      } else if (isAsciiPunctuation(char.codePointAt(0)!) || PUNCTUATION.test(char)) {
        flush()
        words.push(char)
      } else {
        word += char
      }
    }
    flush()
    return words
  }

  /** Greedy longest-match-first pieces of one word; [UNK] alone when the word cannot be covered. */
  wordPieces(word: string): string[] {
    const chars = Array.from(word)
    const { unknown } = this.settings.specialTokens
    if (chars.length > this.settings.maxInputCharsPerWord) return [unknown]
    const pieces: string[] = []
    let start = 0
    while (start < chars.length) {
      let end = chars.length
      let found: string | null = null
      while (start < end) {
        const piece = (start > 0 ? this.settings.continuingSubwordPrefix : '') + chars.slice(start, end).join('')
        if (this.ids.has(piece)) {
          found = piece
          break
        }
        end--
      }
      if (found === null) return [unknown]
      pieces.push(found)
      start = end
    }
    return pieces
  }

  /** Word pieces of a text, without [CLS]/[SEP] and without truncation. */
  tokenize(text: string): string[] {
    return this.preTokenize(this.normalize(text)).flatMap((word) => this.wordPieces(word))
  }

  /** Ids with [CLS] and [SEP], truncated to maxLength (what the ONNX text encoder takes). */
  encode(text: string): number[] {
    const pieces = this.tokenize(text).slice(0, this.settings.maxLength - 2)
    return [this.special.cls, ...pieces.map((piece) => this.ids.get(piece)!), this.special.sep]
  }

  /** Texts encoded and padded to the longest one, with the attention mask (1 = token, 0 = padding). */
  encodeBatch(texts: readonly string[]): EncodedBatch {
    const encoded = texts.map((text) => this.encode(text))
    const length = Math.max(2, ...encoded.map((ids) => ids.length))
    const inputIds = new BigInt64Array(texts.length * length).fill(BigInt(this.special.pad))
    const attentionMask = new BigInt64Array(texts.length * length)
    encoded.forEach((ids, row) => {
      ids.forEach((id, position) => {
        inputIds[row * length + position] = BigInt(id)
        attentionMask[row * length + position] = 1n
      })
    })
    return { inputIds, attentionMask, batch: texts.length, length }
  }
}
